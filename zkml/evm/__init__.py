"""EVM stage: Solidity verifiers, local/remote chains, deployment and on-chain checks.

Modules (import them directly; this package imports nothing heavy):

- :mod:`zkml.evm.solc` finds a Solidity compiler (native solc or pinned solcjs) and compiles.
- :mod:`zkml.evm.verifier` generates and compiles the verifier for a verifying key.
- :mod:`zkml.evm.rpc` connects to an RPC endpoint, picks the account, sends transactions
  and makes calls whose reverts are decoded (:mod:`zkml.evm.reverts`).
- :mod:`zkml.evm.anvil` runs a local anvil (``zkml chain up/down``).
- :mod:`zkml.evm.records` is the deployments record of a workspace, one for every contract.
- :mod:`zkml.evm.deploy` deploys verifiers (and any compiled contract) and registers VKAs.
- :mod:`zkml.evm.onchain` encodes calldata, checks proofs against a deployed verifier and
  decodes public instances (field elements: :mod:`zkml.evm.felts`).
- :mod:`zkml.evm.stages` is the pipeline's EVM stages.
"""
