// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IHalo2Verifier, IHalo2VerifierReusable} from "./IHalo2Verifier.sol";
import {FixedPoint} from "./FixedPoint.sol";

/// @title VerifiedPredictionOracle
/// @notice Stores model predictions whose zero-knowledge proofs a registered verifier accepted.
///
/// A stored prediction is bound to:
///  - the model: a modelId pinned at registration to a plain verifier address, or to a
///    reusable verifier plus the keccak256 digest of the model's VKA words. The binding of a
///    modelId never changes: an upgrade is a NEW modelId, and consumers pin the modelId;
///  - the input: `inputCommitment = keccak256(abi.encodePacked(inputInstances))`, where the
///    input instances are the model inputs themselves (binding PUBLIC) or the Poseidon hash
///    ezkl publishes for `input_visibility = "hashed"` (binding HASHED);
///  - the output: each output instance decoded to a signed integer scaled by 2^scale
///    (`value / 2^scale` is the real number; `FixedPoint.toWad` converts to 1e18 fixed point);
///  - freshness: readers revert with `Stale` once `block.timestamp - timestamp > maxAge`;
///  - replay: the prediction id is keccak256(modelId, inputCommitment), derived from the public
///    inputs and NOT from the proof bytes, so a second proof (even a different, valid one)
///    over the same input is rejected with `Replay`.
///
/// Batches: a model registered with `batchSize` B > 1 proves B inferences in one proof; its
/// input instances are B equal consecutive slices (one per sample), and so are its outputs.
/// `submit` verifies the proof once and stores B predictions, each with its own input
/// commitment, so consumers read and replay-protect each sample exactly as for B = 1. A batch
/// holding any already-published sample (or the same sample twice) is rejected whole with
/// `Replay`.
///
/// Retirement: `setModelActive(modelId, false)` stops new submissions AND makes the checked
/// readers revert with `ModelInactive` (a model is retired because it should no longer be
/// trusted, so consumers must stop acting on it). Its history stays readable for audits
/// through `predictionRecord`, which applies no freshness or activity rule. An owner can
/// reactivate a model; the verifier binding itself can never be changed.
contract VerifiedPredictionOracle {
    /// @notice How the input instances of a proof are bound.
    enum InputBinding {
        PUBLIC, // the model inputs are public instances
        HASHED // one Poseidon hash instance of the (private) inputs
    }

    /// @notice Registration parameters of one model.
    /// @param verifier the plain verifier, or the reusable verifier when `vkaDigest` is non-zero.
    /// @param vkaDigest keccak256 of the model's VKA words (reusable verifier), else zero.
    /// @param binding PUBLIC or HASHED input binding.
    /// @param instanceCount the exact length of the instance vector.
    /// @param inputOffset, inputCount where the input instances (or the hash) sit.
    /// @param outputOffset, outputCount where the output instances sit.
    /// @param batchSize inferences per proof: the inputs and the outputs each split into that many
    ///        equal consecutive per-sample slices (1 for an unbatched circuit).
    /// @param scale fixed-point bits of the outputs (ezkl's model_output_scales).
    /// @param maxAge seconds a prediction stays fresh.
    struct ModelConfig {
        address verifier;
        bytes32 vkaDigest;
        InputBinding binding;
        uint16 instanceCount;
        uint16 inputOffset;
        uint16 inputCount;
        uint16 outputOffset;
        uint16 outputCount;
        uint16 batchSize;
        uint8 scale;
        uint64 maxAge;
    }

    struct Model {
        ModelConfig config;
        bool active;
        bool exists;
        bytes32 latest; // prediction id of the most recent submission
    }

    /// @notice One verified prediction.
    /// @param values the outputs as signed integers scaled by 2^scale.
    struct Prediction {
        bytes32 modelId;
        bytes32 inputCommitment;
        uint64 timestamp;
        uint64 blockNumber;
        uint8 scale;
        address submitter;
        int256[] values;
    }

    address public owner;
    mapping(bytes32 => Model) private _models;
    mapping(bytes32 => Prediction) private _predictions;

    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event ModelRegistered(bytes32 indexed modelId, address indexed verifier, bytes32 vkaDigest, ModelConfig config);
    event ModelActiveChanged(bytes32 indexed modelId, bool active);
    event ModelMaxAgeChanged(bytes32 indexed modelId, uint64 maxAge);
    event PredictionPublished(
        bytes32 indexed modelId,
        bytes32 indexed predictionId,
        bytes32 inputCommitment,
        int256[] values,
        uint8 scale,
        uint64 timestamp,
        address submitter
    );

    error NotOwner(address caller);
    error UnknownModel(bytes32 modelId);
    error ModelInactive(bytes32 modelId);
    error ModelAlreadyRegistered(bytes32 modelId);
    error InvalidModelConfig(string reason);
    error VkaRequired(bytes32 modelId);
    error VkaMismatch(bytes32 modelId);
    error WrongInstanceCount(uint256 expected, uint256 actual);
    error InstanceOutOfField(uint256 index);
    error VerificationFailed(bytes32 modelId);
    error Replay(bytes32 predictionId);
    error NoPrediction(bytes32 modelId, bytes32 predictionId);
    error Stale(bytes32 predictionId, uint256 age, uint256 maxAge);

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    constructor() {
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
    }

    // ------------------------------------------------------------------ administration

    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert InvalidModelConfig("owner cannot be the zero address");
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    /// @notice Register a model once; its verifier binding is immutable afterwards.
    function registerModel(bytes32 modelId, ModelConfig calldata config) external onlyOwner {
        if (_models[modelId].exists) revert ModelAlreadyRegistered(modelId);
        if (modelId == bytes32(0)) revert InvalidModelConfig("modelId is zero");
        if (config.verifier.code.length == 0) revert InvalidModelConfig("no contract at verifier");
        if (config.outputCount == 0) revert InvalidModelConfig("no output instances");
        if (config.inputCount == 0) revert InvalidModelConfig("no input instances to bind");
        if (config.binding == InputBinding.HASHED && config.inputCount != 1) {
            revert InvalidModelConfig("hashed binding takes one hash instance");
        }
        if (config.batchSize == 0) revert InvalidModelConfig("batchSize is zero");
        if (config.batchSize > 1) {
            // One hash over a whole batch cannot be split into per-sample commitments.
            if (config.binding == InputBinding.HASHED) revert InvalidModelConfig("hashed binding cannot be batched");
            if (config.inputCount % config.batchSize != 0 || config.outputCount % config.batchSize != 0) {
                revert InvalidModelConfig("inputs or outputs do not split into batchSize samples");
            }
        }
        if (
            uint256(config.inputOffset) + config.inputCount > config.instanceCount
                || uint256(config.outputOffset) + config.outputCount > config.instanceCount
        ) revert InvalidModelConfig("input or output range outside the instances");
        if (config.maxAge == 0) revert InvalidModelConfig("maxAge is zero");
        if (config.scale > 128) revert InvalidModelConfig("scale above 128 bits");
        Model storage model = _models[modelId];
        model.config = config;
        model.active = true;
        model.exists = true;
        emit ModelRegistered(modelId, config.verifier, config.vkaDigest, config);
    }

    /// @notice Retire (false) or reactivate (true) a model.
    function setModelActive(bytes32 modelId, bool active) external onlyOwner {
        Model storage model = _knownModel(modelId);
        model.active = active;
        emit ModelActiveChanged(modelId, active);
    }

    function setMaxAge(bytes32 modelId, uint64 maxAge) external onlyOwner {
        if (maxAge == 0) revert InvalidModelConfig("maxAge is zero");
        _knownModel(modelId).config.maxAge = maxAge;
        emit ModelMaxAgeChanged(modelId, maxAge);
    }

    // ------------------------------------------------------------------ submission

    /// @notice Verify a proof with a plain-verifier model and store its prediction(s).
    /// @return predictionId keccak256(modelId, inputCommitment) of the (last, for a batch) sample.
    function submit(bytes32 modelId, bytes calldata proof, uint256[] calldata instances)
        external
        returns (bytes32 predictionId)
    {
        Model storage model = _activeModel(modelId);
        if (model.config.vkaDigest != bytes32(0)) revert VkaRequired(modelId);
        predictionId = _precheck(modelId, model.config, instances);
        bytes memory call = abi.encodeCall(IHalo2Verifier.verifyProof, (proof, instances));
        _verify(modelId, model.config.verifier, call);
        _store(modelId, model, predictionId, instances);
    }

    /// @notice Verify a proof with a reusable-verifier model (VKA passed as calldata, pinned by digest).
    function submitWithVka(bytes32 modelId, bytes calldata proof, uint256[] calldata instances, bytes32[] calldata vka)
        external
        returns (bytes32 predictionId)
    {
        Model storage model = _activeModel(modelId);
        // Calldata words (16 gas/byte) are cheaper than reading a stored VKA (2100 gas/word cold);
        // the digest pin makes them exactly as binding.
        if (model.config.vkaDigest == bytes32(0)) revert InvalidModelConfig("model uses a plain verifier");
        if (keccak256(abi.encodePacked(vka)) != model.config.vkaDigest) revert VkaMismatch(modelId);
        predictionId = _precheck(modelId, model.config, instances);
        bytes memory call = abi.encodeCall(IHalo2VerifierReusable.verifyProof, (proof, instances, vka));
        _verify(modelId, model.config.verifier, call);
        _store(modelId, model, predictionId, instances);
    }

    function _precheck(bytes32 modelId, ModelConfig storage config, uint256[] calldata instances)
        private
        view
        returns (bytes32 predictionId)
    {
        if (instances.length != config.instanceCount) revert WrongInstanceCount(config.instanceCount, instances.length);
        for (uint256 i = 0; i < instances.length; ++i) {
            // A non-canonical element (x + p) would pass a verifier that reduces mod p and
            // yield a second commitment, hence a second prediction id, for the same input.
            if (instances[i] >= FixedPoint.FIELD_MODULUS) revert InstanceOutOfField(i);
        }
        // Checked before verifying: a replay costs the submitter little and is reported as such.
        uint256 batch = config.batchSize;
        for (uint256 k = 0; k < batch; ++k) {
            predictionId = predictionIdOf(modelId, _sampleCommitment(config, instances, k));
            if (_predictions[predictionId].timestamp != 0) revert Replay(predictionId);
        }
    }

    /// @dev keccak256 of sample k's input instances (the whole input range when batchSize is 1).
    function _sampleCommitment(ModelConfig storage config, uint256[] calldata instances, uint256 k) private view returns (bytes32) {
        uint256 width = config.inputCount / config.batchSize;
        uint256 start = config.inputOffset + k * width;
        return keccak256(abi.encodePacked(instances[start:start + width]));
    }

    function _verify(bytes32 modelId, address verifier, bytes memory call) private view {
        // staticcall: a verifier must not change state or call back into the oracle.
        (bool ok, bytes memory ret) = verifier.staticcall(call);
        // Word 0 is the success flag for both verifiers; a revert and `false` both reject.
        if (!ok || ret.length < 32 || abi.decode(ret, (uint256)) != 1) revert VerificationFailed(modelId);
    }

    function _store(bytes32 modelId, Model storage model, bytes32 predictionId, uint256[] calldata instances) private {
        ModelConfig storage config = model.config;
        uint256 batch = config.batchSize;
        uint256 width = config.outputCount / batch;
        for (uint256 k = 0; k < batch; ++k) {
            bytes32 commitment = _sampleCommitment(config, instances, k);
            bytes32 id = predictionIdOf(modelId, commitment);
            Prediction storage p = _predictions[id];
            // _precheck saw none stored; this catches a sample repeated within the batch.
            if (p.timestamp != 0) revert Replay(id);
            p.modelId = modelId;
            p.inputCommitment = commitment;
            p.timestamp = uint64(block.timestamp);
            p.blockNumber = uint64(block.number);
            p.scale = config.scale;
            p.submitter = msg.sender;
            uint256 first = config.outputOffset + k * width;
            for (uint256 i = 0; i < width; ++i) {
                p.values.push(FixedPoint.decodeFelt(instances[first + i]));
            }
            emit PredictionPublished(modelId, id, commitment, p.values, p.scale, p.timestamp, msg.sender);
        }
        model.latest = predictionId;
    }

    // ------------------------------------------------------------------ readers (checked)

    /// @notice The most recent prediction of a model; reverts if stale, retired or absent.
    function latestPrediction(bytes32 modelId) external view returns (Prediction memory) {
        Model storage model = _activeModel(modelId);
        return _fresh(model, modelId, model.latest);
    }

    /// @notice The prediction of a model on a given input commitment; same rules as latestPrediction.
    function predictionFor(bytes32 modelId, bytes32 inputCommitment) external view returns (Prediction memory) {
        Model storage model = _activeModel(modelId);
        return _fresh(model, modelId, predictionIdOf(modelId, inputCommitment));
    }

    /// @notice A prediction by id; same rules as latestPrediction (its model must be active).
    function getPrediction(bytes32 predictionId) external view returns (Prediction memory) {
        bytes32 modelId = _predictions[predictionId].modelId;
        if (modelId == bytes32(0)) revert NoPrediction(bytes32(0), predictionId);
        return _fresh(_activeModel(modelId), modelId, predictionId);
    }

    function _fresh(Model storage model, bytes32 modelId, bytes32 predictionId) private view returns (Prediction memory) {
        Prediction storage p = _predictions[predictionId];
        if (predictionId == bytes32(0) || p.timestamp == 0) revert NoPrediction(modelId, predictionId);
        uint256 age = block.timestamp - p.timestamp;
        if (age > model.config.maxAge) revert Stale(predictionId, age, model.config.maxAge);
        return p;
    }

    // ------------------------------------------------------------------ readers (raw)

    /// @notice A stored prediction with no freshness or activity rule (audits, history); timestamp 0 if absent.
    function predictionRecord(bytes32 predictionId) external view returns (Prediction memory) {
        return _predictions[predictionId];
    }

    /// @notice A model's registration: config, active flag, whether it exists, latest prediction id.
    function models(bytes32 modelId)
        external
        view
        returns (ModelConfig memory config, bool active, bool exists, bytes32 latest)
    {
        Model storage model = _models[modelId];
        return (model.config, model.active, model.exists, model.latest);
    }

    // ------------------------------------------------------------------ pure helpers

    /// @notice The input commitment of a list of input instances (or of the one hash instance).
    function inputCommitmentOf(uint256[] calldata inputInstances) external pure returns (bytes32) {
        return keccak256(abi.encodePacked(inputInstances));
    }

    /// @notice The replay key: derived from the model and its public input, never from the proof.
    function predictionIdOf(bytes32 modelId, bytes32 inputCommitment) public pure returns (bytes32) {
        return keccak256(abi.encode(modelId, inputCommitment));
    }

    /// @notice FixedPoint.decodeFelt, exposed so off-chain code can check it matches its own decoding.
    function decodeFelt(uint256 felt) external pure returns (int256) {
        return FixedPoint.decodeFelt(felt);
    }

    /// @notice FixedPoint.toWad: value / 2^scale as 1e18 fixed point, truncated toward zero.
    function toWad(int256 value, uint8 scale) external pure returns (int256) {
        return FixedPoint.toWad(value, scale);
    }

    // ------------------------------------------------------------------ internals

    function _knownModel(bytes32 modelId) private view returns (Model storage model) {
        model = _models[modelId];
        if (!model.exists) revert UnknownModel(modelId);
    }

    function _activeModel(bytes32 modelId) private view returns (Model storage model) {
        model = _knownModel(modelId);
        if (!model.active) revert ModelInactive(modelId);
    }
}
