"""EVM stage: Solidity verifiers, local/remote chains, deployment and on-chain checks.

Modules (import them directly; this package imports nothing heavy):

- :mod:`zkml.evm.solc` finds a Solidity compiler (native solc or pinned solcjs) and compiles.
- :mod:`zkml.evm.verifier` generates and compiles the verifier for a verifying key.
- :mod:`zkml.evm.chain` connects to an RPC endpoint or runs a local anvil.
- :mod:`zkml.evm.deploy` deploys verifiers / registers VKAs and records deployments.
- :mod:`zkml.evm.onchain` encodes calldata and checks proofs against a deployed verifier.
"""
