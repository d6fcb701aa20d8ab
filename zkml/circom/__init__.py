"""A second proof backend: circom circuits proved with snarkjs (Groth16, PLONK, FFLONK), verified on chain behind an adapter.

From the same ONNX model and ezkl settings as the halo2 path, :mod:`zkml.circom.graph`
reads the quantized graph (ezkl's integer rules), :mod:`zkml.circom.codegen` writes the
circom circuit, :mod:`zkml.circom.build` compiles it and makes the keys of a proof system
(:mod:`zkml.circom.systems`: Groth16 with a per-model phase 2, PLONK and FFLONK from the
powers of tau alone) on the development powers of tau (:mod:`zkml.circom.ptau`),
:mod:`zkml.circom.prove` proves and verifies with snarkjs, :mod:`zkml.circom.evm` puts
snarkjs's Solidity verifier and the oracle-interface adapter on chain, and
:mod:`zkml.circom.oracle` registers and publishes through zkml's oracle. The public signals
are ezkl's instances, element for element. :mod:`zkml.circom.choose` picks a backend from
measurements by the stated objective (cheapest verify gas within the fidelity budget and a
prove-time cap).
"""
