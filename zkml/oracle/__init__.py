"""The verified-prediction oracle: deploy, register models, publish proofs, read predictions.

The contracts ship in ``contracts/`` (package data; ``verifier_contracts/README.md``
in the repository explains their on-chain rules):

- ``VerifiedPredictionOracle`` stores a model output once a registered verifier (pinned
  by address and code hash) accepted its proof and its inputs passed the registered
  bounds; for an ATTESTED model the inputs must also equal a feature source's data at
  the claimed epoch, and the prediction is keyed by ``keccak256(modelId, epoch)``;
- ``PushFeed`` (a local AggregatorV3 feed) and ``ReturnsFeatureSource`` (the last N
  returns of an AggregatorV3 feed, quantized as the circuit quantizes its input);
- ``ForecastVault`` is an example DeFi consumer pinned to one oracle and one attested modelId
  (``FeedForecastVault``: one asset of a multi-feed model).

Modules: :mod:`~zkml.oracle.compile` (compile, cached), :mod:`~zkml.oracle.layout`
(a circuit's instance layout), :mod:`~zkml.oracle.encoding` (ids and fixed point, as the
contracts compute them), :mod:`~zkml.oracle.client` (deploy, publish, read),
:mod:`~zkml.oracle.registry` (register models), :mod:`~zkml.oracle.binding` (verifier code,
SRS and bounds checks), :mod:`~zkml.oracle.mirror` (the source's arithmetic in Python),
:mod:`~zkml.oracle.feed` (feeds and sources), :mod:`~zkml.oracle.attest` (prove on attested
data), :mod:`~zkml.oracle.multi_feed` (one batch over many feeds at one epoch), :mod:`~zkml.oracle.consumer` (the vault)
and :mod:`~zkml.oracle.demo` (the whole flow). Deployments go to the workspace's
deployments record (:mod:`zkml.evm.records`). Every revert of the contracts' own errors
becomes an :class:`~zkml.errors.OracleRevertError` naming the error.

Names are resolved on first use (PEP 562): importing this package imports no web3.
"""

from __future__ import annotations

from zkml._lazy import lazy_exports

_EXPORTS = {
    "CONSUMER_CONTRACT": "zkml.oracle.compile",
    "ORACLE_CONTRACT": "zkml.oracle.compile",
    "OracleContracts": "zkml.oracle.compile",
    "compile_contracts": "zkml.oracle.compile",
    "contract_sources": "zkml.oracle.compile",
    "ModelSpec": "zkml.oracle.layout",
    "model_spec": "zkml.oracle.layout",
    "default_model_id": "zkml.oracle.encoding",
    "feed_key": "zkml.oracle.encoding",
    "input_commitment": "zkml.oracle.encoding",
    "parse_bytes32": "zkml.oracle.encoding",
    "prediction_id": "zkml.oracle.encoding",
    "to_wad": "zkml.oracle.encoding",
    "Prediction": "zkml.oracle.client",
    "Publication": "zkml.oracle.client",
    "deploy_oracle": "zkml.oracle.client",
    "prediction_record": "zkml.oracle.client",
    "publication_from_receipt": "zkml.oracle.client",
    "publish": "zkml.oracle.client",
    "read_prediction": "zkml.oracle.client",
    "submit_calldata": "zkml.oracle.client",
    "DEFAULT_MAX_AGE": "zkml.oracle.registry",
    "Registration": "zkml.oracle.registry",
    "WorkspaceModel": "zkml.oracle.registry",
    "read_model": "zkml.oracle.registry",
    "register_model": "zkml.oracle.registry",
    "register_workspace": "zkml.oracle.registry",
    "set_model_active": "zkml.oracle.registry",
    "workspace_model": "zkml.oracle.registry",
    "workspace_verifier": "zkml.oracle.registry",
    "ConsumerState": "zkml.oracle.consumer",
    "consumer_act": "zkml.oracle.consumer",
    "consumer_state": "zkml.oracle.consumer",
    "deploy_consumer": "zkml.oracle.consumer",
    "deploy_feed_consumer": "zkml.oracle.consumer",
    "FeedBatch": "zkml.oracle.multi_feed",
    "deploy_sources": "zkml.oracle.multi_feed",
    "feed_batch": "zkml.oracle.multi_feed",
    "feeds_of": "zkml.oracle.multi_feed",
    "prove_feed_batch": "zkml.oracle.multi_feed",
    "read_feed_prediction": "zkml.oracle.multi_feed",
    "demo_flow": "zkml.oracle.demo",
    "ReturnsSpec": "zkml.oracle.mirror",
    "AttestedInput": "zkml.oracle.feed",
    "attested_input": "zkml.oracle.feed",
    "deploy_feed": "zkml.oracle.feed",
    "deploy_source": "zkml.oracle.feed",
    "push_prices": "zkml.oracle.feed",
    "prove_attested": "zkml.oracle.attest",
    "check_verifier": "zkml.oracle.binding",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
