// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IHalo2Verifier, IHalo2VerifierReusable} from "./IHalo2Verifier.sol";
import {IFeatureSource} from "./IFeatureSource.sol";
import {FixedPoint} from "./FixedPoint.sol";

/// @title VerifiedPredictionOracle
/// @notice Stores model predictions whose zero-knowledge proofs a registered verifier accepted.
///
/// A stored prediction is bound to:
///  - the model: a modelId pinned at registration to a verifier address AND its code hash (checked
///    again on every submit, so swapped code is refused), or to a reusable verifier plus the
///    keccak256 digest of the model's VKA words. The binding never changes: an upgrade is a NEW
///    modelId, and consumers pin the modelId;
///  - the input, in one of two modes:
///    * ATTESTED (a feature source is registered): the proof's input instances must equal the
///      source's instances for the claimed data epoch (for example the last N returns of a
///      Chainlink feed at round E), and the epoch must be within `maxEpochLag` of the source's
///      latest. Nobody chooses the input: it is the on-chain data. The replay key is
///      (modelId, epoch), so the same window at a new epoch publishes again;
///    * UNATTESTED: the input is whatever the submitter proved on. The replay key is
///      (modelId, keccak256(input instances)). Only for apps that bind the inputs themselves
///      (for example by reading `predictionFor` with inputs they computed on chain);
///  - the weights: fixed in the verifying key (no param instances), or hashed: the proof's param-hash
///    instances (the Poseidon hashes ezkl publishes for hashed params) must hash (keccak256) to the
///    commitment pinned at registration (`registerModelWithParams`), so a proof made with other
///    weights, which the verifier accepts, is refused with `ParamsMismatch`. Every instance must be an
///    input, an output or a pinned param hash, so params hashed in the proof cannot go unpinned;
///  - the calibrated input range: every public input instance must lie inside the bounds
///    registered with the model, so out-of-range inputs (which a circuit still proves, with
///    meaningless outputs) are refused;
///  - the output: each output instance decoded to a signed integer scaled by 2^scale;
///  - freshness: each prediction's expiry is fixed when it is stored (the data's timestamp plus
///    maxAge; for unattested models the block's), so a later maxAge change never revives or
///    expires a stored prediction. Checked readers revert with `Stale` after it.
///
/// Batches: a model registered with batchSize B > 1 proves B samples in one proof (B equal
/// consecutive input slices and output slices). A batch verifies once; samples already published
/// are skipped (event PredictionSkipped) and the rest are stored, so a front-run or duplicate
/// sample does not sink the others. A batch with nothing new reverts with `Replay` before verifying.
///
/// Multi-feed batches: a model registered with `registerModelMultiFeed` binds its K = batchSize samples
/// to K feature sources (sample k reads source k; its config's source is the oracle itself). One proof
/// covers the K feeds at ONE epoch E: `submitAttested` with E given K times. Sample k's inputs must be
/// source k's instances at E; E must be within `maxEpochLag` of source k's own latest epoch, and fresh.
/// Replay is keyed per (model, feed index, epoch) (`feedKeyOf`); each feed's newest prediction is kept
/// in one slot and read with `feedPrediction(modelId, index)` or `feedPredictionOf(modelId, source)`.
///
/// Storage:
///  - unattested models: one slot per prediction (first output, data timestamp, expiry), plus one
///    slot per two further outputs, keyed by prediction id;
///  - attested models: one commitment per stored batch (keccak256 over its samples' leaves, keyed by
///    the batch's first stored epoch), one published bit per epoch (256 epochs per slot) and the
///    newest prediction in full. `latestPrediction` reads storage; an older prediction is read with
///    `predictionFromBatch`, passing the batch as its PredictionPublished events gave it, which
///    the stored commitment checks. A batch of B costs ~1/B of a slot per prediction, not a slot.
contract VerifiedPredictionOracle {
    enum InputBinding {
        PUBLIC, // the model inputs are public instances
        HASHED // one Poseidon hash instance of the (private) inputs: no bounds, no attestation
    }

    /// @notice Registration parameters of one model.
    /// @param verifier the plain verifier, or the reusable verifier when `vkaDigest` is non-zero.
    /// @param verifierCodehash the verifier's extcodehash; registration and every submit check it.
    /// @param vkaDigest keccak256 of the model's VKA words (reusable verifier), else zero.
    /// @param source the feature source of an attested model, else the zero address.
    /// @param paramOffset, paramCount hashed params: where the param-hash instances sit (0, 0: params fixed in the vk).
    /// @param maxEpochLag attested: an epoch more than this many epochs behind the source's latest is refused.
    /// @param maxAge seconds a prediction stays fresh (from its data's timestamp).
    struct ModelConfig {
        address verifier;
        bytes32 verifierCodehash;
        bytes32 vkaDigest;
        address source;
        InputBinding binding;
        uint16 instanceCount;
        uint16 inputOffset;
        uint16 inputCount;
        uint16 outputOffset;
        uint16 outputCount;
        uint16 paramOffset; // packed with batchSize..maxAge: a fixed-params submit reads no further slot
        uint16 paramCount;
        uint16 batchSize;
        uint8 scale;
        uint32 maxEpochLag;
        uint64 maxAge;
    }

    /// @notice Inclusive bounds of one input feature, as a signed integer scaled by 2^inputScale.
    struct Bound {
        int128 low;
        int128 high;
    }

    struct Model {
        ModelConfig config;
        bool active;
        bool exists;
        uint64 latestEpoch; // attested: the newest epoch stored (its id is predictionIdOf(modelId, epoch))
        // Attested: the newest prediction, in the slot of the flags and latestEpoch that every submit
        // writes anyway. A first output beyond int80 or an expiry beyond uint48 is WIDE: then the
        // record is in _records[modelId] instead.
        uint48 latestTime;
        uint48 latestExpires;
        int80 latestValue;
        bytes32 latest; // unattested: prediction id of the newest prediction
    }

    /// @notice One verified prediction as readers see it.
    /// @param epoch the data epoch (attested models), 0 for unattested ones.
    /// @param dataTimestamp when the input data was made (attested) or the prediction stored (unattested).
    /// @param expiresAt fixed at submit: dataTimestamp + the model's maxAge then.
    /// @param values the outputs as signed integers scaled by 2^scale.
    struct Prediction {
        bytes32 modelId;
        bytes32 predictionId;
        uint256 epoch;
        uint64 dataTimestamp;
        uint64 expiresAt;
        uint8 scale;
        int256[] values;
    }

    /// @notice One stored sample of an attested batch, as its PredictionPublished event gives it.
    struct BatchEntry {
        uint256 epoch;
        uint64 dataTimestamp;
        uint64 expiresAt;
        int256[] values;
    }

    address public owner;
    address public pendingOwner;
    mapping(bytes32 => Model) private _models;
    /// @dev Per-feature bounds packed two features per slot (int64 low, int64 high each): half the cold reads.
    mapping(bytes32 => uint256[]) private _bounds;
    mapping(bytes32 => uint256) private _boundCount;
    /// @dev prediction id => uint128(int128 first output) | dataTimestamp << 128 | expiresAt << 192.
    mapping(bytes32 => uint256) private _records;
    /// @dev prediction id => slot j holds outputs 2j+1 and 2j+2 (int128 each, low half first).
    ///      Attested models use the same layout under their modelId for the newest prediction.
    mapping(bytes32 => mapping(uint256 => uint256)) private _moreValues;
    /// @dev attested: modelId => epoch / 255 => bit (epoch % 255) set once the epoch is published.
    ///      Bit 255 is always set in a word in use, so a word is never reset to zero (a zero-to-non-zero
    ///      write costs 20,000): registration initializes the word of the source's latest epoch.
    mapping(bytes32 => mapping(uint256 => uint256)) private _publishedEpochs;
    /// @dev attested: modelId => first stored epoch of a batch => keccak256 of its leaves.
    mapping(bytes32 => mapping(uint256 => bytes32)) private _batchRoots;
    /// @dev hashed params: modelId => keccak256 of the param-hash instances, pinned at registration.
    ///      Read only when paramCount != 0, so fixed-params models pay nothing for it.
    mapping(bytes32 => bytes32) private _paramsCommitments;
    /// @dev multi-feed: modelId => the feature source of each sample, in batch order.
    mapping(bytes32 => address[]) private _feeds;
    /// @dev multi-feed: feedKeyOf(modelId, k) => feed k's newest prediction:
    ///      epoch (80 bits) | dataTimestamp << 80 (48) | expiresAt << 128 (48) | uint80(int80 first output) << 176.
    ///      Further outputs under the same key in _moreValues; published epochs in _publishedEpochs.
    mapping(bytes32 => uint256) private _feedLatest;

    event OwnershipTransferStarted(address indexed previousOwner, address indexed newOwner);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event ModelRegistered(bytes32 indexed modelId, address indexed verifier, address indexed source, ModelConfig config, Bound[] bounds);
    event ModelParamsPinned(bytes32 indexed modelId, bytes32 paramsCommitment);
    event ModelActiveChanged(bytes32 indexed modelId, bool active);
    event ModelMaxAgeChanged(bytes32 indexed modelId, uint64 maxAge);
    event PredictionPublished(
        bytes32 indexed modelId,
        bytes32 indexed predictionId,
        uint256 epoch,
        bytes32 inputCommitment,
        int256[] values,
        uint64 dataTimestamp,
        uint64 expiresAt,
        address submitter
    );
    event PredictionSkipped(bytes32 indexed modelId, bytes32 indexed predictionId);
    /// @notice Attested: the `count` PredictionPublished events of `modelId` just before this one form
    ///         the batch whose commitment `root` is stored under `firstEpoch`.
    event BatchPublished(bytes32 indexed modelId, uint256 indexed firstEpoch, bytes32 root, uint256 count);

    error NotOwner(address caller);
    error UnknownModel(bytes32 modelId);
    error ModelInactive(bytes32 modelId);
    error ModelAlreadyRegistered(bytes32 modelId);
    error InvalidModelConfig(string reason);
    error VerifierCodeMismatch(bytes32 modelId, bytes32 expected, bytes32 actual);
    error VkaRequired(bytes32 modelId);
    error VkaMismatch(bytes32 modelId);
    error AttestationRequired(bytes32 modelId);
    error NotAttested(bytes32 modelId);
    error WrongInstanceCount(uint256 expected, uint256 actual);
    error ParamsMismatch(bytes32 modelId, bytes32 pinned, bytes32 proved);
    error WrongEpochCount(uint256 expected, uint256 actual);
    error EpochsNotIncreasing(uint256 index);
    error EpochTooOld(uint256 epoch, uint256 latestEpoch, uint256 maxEpochLag);
    error InputNotAttested(uint256 epoch, uint256 feature, uint256 proved, uint256 attested);
    error InstanceOutOfField(uint256 index);
    error InputOutOfRange(uint256 sample, uint256 feature, int256 value, int256 low, int256 high);
    error OutputOutOfRange(uint256 index, int256 value);
    error StaleData(uint256 epoch, uint64 dataTimestamp, uint64 expiresAt);
    error VerificationFailed(bytes32 modelId);
    error Replay(bytes32 predictionId);
    error NoPrediction(bytes32 modelId, bytes32 predictionId);
    error BatchMismatch(bytes32 modelId, uint256 firstEpoch);
    error Stale(bytes32 predictionId, uint64 expiresAt, uint256 time);
    /// @notice Multi-feed: every sample of a batch is at one epoch; sample `index` claimed another.
    error MixedEpochs(uint256 index, uint256 epoch, uint256 batchEpoch);
    /// @notice Multi-feed: sample `index`'s inputs are feed `fromIndex`'s window, not its own feed's.
    error SampleFromAnotherFeed(uint256 index, uint256 fromIndex, uint256 epoch);
    /// @notice Multi-feed: samples `index` and `otherIndex` carry each other's feed's window.
    error FeedsSwapped(uint256 index, uint256 otherIndex, uint256 epoch);
    /// @notice No feed of the model at that index (or with that source address); every index of a
    ///         model that is not multi-feed.
    error UnknownFeed(bytes32 modelId, uint256 indexOrSource);

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    constructor() {
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
    }

    // ------------------------------------------------------------------ administration

    /// @notice Start a two-step ownership transfer; `newOwner` must call acceptOwnership.
    function transferOwnership(address newOwner) external onlyOwner {
        pendingOwner = newOwner;
        emit OwnershipTransferStarted(owner, newOwner);
    }

    function acceptOwnership() external {
        if (msg.sender != pendingOwner) revert NotOwner(msg.sender);
        emit OwnershipTransferred(owner, msg.sender);
        owner = msg.sender;
        pendingOwner = address(0);
    }

    /// @notice Register a model once; its verifier, code hash, source and bounds are immutable afterwards.
    ///         Its params must be fixed in the vk (paramCount 0): hashed params are registered with
    ///         registerModelWithParams.
    /// @param bounds per-feature bounds of one sample's inputs (public binding), empty for hashed inputs.
    function registerModel(bytes32 modelId, ModelConfig calldata config, Bound[] calldata bounds) external onlyOwner {
        _register(modelId, config, bounds, bytes32(0), false);
    }

    /// @notice As registerModel, for a model whose params are hashed: `paramsCommitment` is keccak256 of
    ///         its param-hash instances (abi.encodePacked), which every submit must reproduce.
    function registerModelWithParams(bytes32 modelId, ModelConfig calldata config, Bound[] calldata bounds, bytes32 paramsCommitment)
        external
        onlyOwner
    {
        _register(modelId, config, bounds, paramsCommitment, false);
    }

    /// @notice Register a multi-feed model: sample k of every batch is attested by `sources[k]`
    ///         (K = batchSize sources, each giving one sample's inputs). `config.source` must be this
    ///         oracle's address (the mark of a multi-feed model); `paramsCommitment` as for
    ///         registerModelWithParams, zero for params fixed in the vk.
    function registerModelMultiFeed(
        bytes32 modelId,
        ModelConfig calldata config,
        Bound[] calldata bounds,
        address[] calldata sources,
        bytes32 paramsCommitment
    ) external onlyOwner {
        _register(modelId, config, bounds, paramsCommitment, true);
        _bindFeeds(modelId, config, sources);
    }

    function _register(bytes32 modelId, ModelConfig calldata config, Bound[] calldata bounds, bytes32 paramsCommitment, bool multi)
        private
    {
        if (_models[modelId].exists) revert ModelAlreadyRegistered(modelId);
        if (modelId == bytes32(0)) revert InvalidModelConfig("modelId is zero");
        // The oracle's own address as the source marks a multi-feed model, and only that.
        if ((config.source == address(this)) != multi) revert InvalidModelConfig("multi-feed: source is the oracle");
        _checkConfig(config, bounds);
        _checkParamsConfig(config, paramsCommitment);
        if (config.verifier.codehash != config.verifierCodehash) {
            revert VerifierCodeMismatch(modelId, config.verifierCodehash, config.verifier.codehash);
        }
        Model storage model = _models[modelId];
        model.config = config;
        model.active = true;
        model.exists = true;
        uint256[] storage packed = _bounds[modelId];
        for (uint256 i = 0; i < bounds.length; i += 2) {
            uint256 word = _packBound(bounds[i]);
            if (i + 1 < bounds.length) word |= _packBound(bounds[i + 1]) << 128;
            packed.push(word);
        }
        _boundCount[modelId] = bounds.length;
        if (config.source != address(0) && !multi) _initBitmap(modelId, config.source);
        emit ModelRegistered(modelId, config.verifier, config.source, config, bounds);
        if (paramsCommitment != bytes32(0)) {
            _paramsCommitments[modelId] = paramsCommitment;
            emit ModelParamsPinned(modelId, paramsCommitment);
        }
    }

    /// @dev The first submissions then update a bitmap word instead of creating one. A source with
    ///      no data yet may revert here: the first submission then creates the word.
    function _initBitmap(bytes32 key, address source) private {
        try IFeatureSource(source).latestEpoch() returns (uint256 latest) {
            _publishedEpochs[key][latest / EPOCHS_PER_WORD] = WORD_IN_USE;
        } catch {}
    }

    /// @dev Multi-feed: one source per sample, each a contract of the sample's width. A source listed
    ///      twice is the owner's mistake, refused off chain (zkml.oracle.registry): it would attest two
    ///      samples with one window, which wastes a sample but lets no input through unattested.
    function _bindFeeds(bytes32 modelId, ModelConfig calldata config, address[] calldata sources) private {
        if (sources.length != config.batchSize) revert InvalidModelConfig("one feed per sample");
        uint256 width = config.inputCount / config.batchSize;
        address[] storage feeds = _feeds[modelId];
        for (uint256 k = 0; k < sources.length; ++k) {
            address source = sources[k];
            _checkSource(source, width);
            feeds.push(source);
            bytes32 key = feedKeyOf(modelId, k);
            _initBitmap(key, source);
            // Epoch 0 reads as "no prediction"; the non-zero word makes the first record an update, not a new slot.
            _feedLatest[key] = WORD_IN_USE;
        }
    }

    function _checkSource(address source, uint256 width) private view {
        if (source.code.length == 0) revert InvalidModelConfig("no contract at source");
        if (IFeatureSource(source).width() != width) revert InvalidModelConfig("source width != sample width");
    }

    function _checkConfig(ModelConfig calldata config, Bound[] calldata bounds) private view {
        if (config.verifier.code.length == 0) revert InvalidModelConfig("no contract at verifier");
        if (config.outputCount == 0) revert InvalidModelConfig("no output instances");
        if (config.inputCount == 0) revert InvalidModelConfig("no input instances to bind");
        if (config.batchSize == 0) revert InvalidModelConfig("batchSize is zero");
        if (config.inputCount % config.batchSize != 0 || config.outputCount % config.batchSize != 0) {
            revert InvalidModelConfig("in/outputs do not split by batch");
        }
        if (
            uint256(config.inputOffset) + config.inputCount > config.instanceCount
                || uint256(config.outputOffset) + config.outputCount > config.instanceCount
        ) revert InvalidModelConfig("in/output range past instances");
        if (config.maxAge == 0 || config.maxAge > type(uint40).max) revert InvalidModelConfig("maxAge must be 1..2^40-1");
        if (config.scale > 128) revert InvalidModelConfig("scale above 128 bits");
        uint256 width = config.inputCount / config.batchSize;
        if (config.binding == InputBinding.HASHED) {
            if (config.inputCount != 1) revert InvalidModelConfig("hashed: one hash instance");
            // One hash over a whole batch cannot be split into per-sample commitments.
            if (config.batchSize != 1) revert InvalidModelConfig("hashed binding cannot be batched");
            if (config.source != address(0)) revert InvalidModelConfig("attested needs public inputs");
            if (bounds.length != 0) revert InvalidModelConfig("hashed inputs take no bounds");
        } else if (bounds.length != width) {
            revert InvalidModelConfig("one bound per input feature");
        }
        for (uint256 i = 0; i < bounds.length; ++i) {
            if (bounds[i].low > bounds[i].high) revert InvalidModelConfig("a bound's low is above its high");
            if (bounds[i].low < type(int64).min || bounds[i].high > type(int64).max) {
                revert InvalidModelConfig("a bound is beyond int64");
            }
        }
        if (config.source != address(0) && config.source != address(this)) _checkSource(config.source, width);
    }

    /// @dev The params binding: hashed params pinned by a non-zero commitment, and no instance left unbound.
    ///      The oracle cannot see whether a circuit's params are private (a private-params proof looks
    ///      like a fixed-params one); it can see instances nobody registered, such as an unpinned param hash.
    function _checkParamsConfig(ModelConfig calldata config, bytes32 paramsCommitment) private pure {
        uint256 params = config.paramCount;
        if (params == 0 && paramsCommitment != bytes32(0)) revert InvalidModelConfig("fixed params take no commitment");
        if (params != 0 && paramsCommitment == bytes32(0)) revert InvalidModelConfig("hashed params need a commitment");
        if (uint256(config.paramOffset) + params > config.instanceCount) revert InvalidModelConfig("param range past instances");
        if (uint256(config.inputCount) + config.outputCount + params != config.instanceCount) {
            revert InvalidModelConfig("an instance is bound to nothing");
        }
        if (
            _overlap(config.inputOffset, config.inputCount, config.outputOffset, config.outputCount)
                || _overlap(config.paramOffset, params, config.inputOffset, config.inputCount)
                || _overlap(config.paramOffset, params, config.outputOffset, config.outputCount)
        ) revert InvalidModelConfig("in/out/param ranges overlap");
    }

    function _overlap(uint256 a, uint256 aCount, uint256 b, uint256 bCount) private pure returns (bool) {
        return aCount != 0 && bCount != 0 && a < b + bCount && b < a + aCount;
    }

    /// @notice Retire (false) or reactivate (true) a model.
    function setModelActive(bytes32 modelId, bool active) external onlyOwner {
        _knownModel(modelId).active = active;
        emit ModelActiveChanged(modelId, active);
    }

    /// @notice Change maxAge for predictions stored from now on; stored ones keep their expiry.
    function setMaxAge(bytes32 modelId, uint64 maxAge) external onlyOwner {
        // Bounded so that data timestamp + maxAge always fits the uint64 expiry.
        if (maxAge == 0 || maxAge > type(uint40).max) revert InvalidModelConfig("maxAge must be 1..2^40-1");
        _knownModel(modelId).config.maxAge = maxAge;
        emit ModelMaxAgeChanged(modelId, maxAge);
    }

    // ------------------------------------------------------------------ submission

    /// @notice Verify a proof of an unattested, plain-verifier model and store its prediction(s).
    /// @return stored the number of samples stored (the others were already published).
    function submit(bytes32 modelId, bytes calldata proof, uint256[] calldata instances) external returns (uint256 stored) {
        return _submit(modelId, new uint256[](0), proof, instances, new bytes32[](0), false);
    }

    /// @notice As submit, for a reusable-verifier model (VKA passed as calldata, pinned by digest).
    function submitWithVka(bytes32 modelId, bytes calldata proof, uint256[] calldata instances, bytes32[] calldata vka)
        external
        returns (uint256 stored)
    {
        return _submit(modelId, new uint256[](0), proof, instances, vka, true);
    }

    /// @notice Verify a proof of an attested model on the data of `epochs` (one per sample, increasing).
    function submitAttested(bytes32 modelId, uint256[] calldata epochs, bytes calldata proof, uint256[] calldata instances)
        external
        returns (uint256 stored)
    {
        return _submit(modelId, epochs, proof, instances, new bytes32[](0), false);
    }

    /// @notice As submitAttested, for a reusable-verifier model.
    function submitAttestedWithVka(
        bytes32 modelId,
        uint256[] calldata epochs,
        bytes calldata proof,
        uint256[] calldata instances,
        bytes32[] calldata vka
    ) external returns (uint256 stored) {
        return _submit(modelId, epochs, proof, instances, vka, true);
    }

    function _submit(
        bytes32 modelId,
        uint256[] memory epochs,
        bytes calldata proof,
        uint256[] calldata instances,
        bytes32[] memory vka,
        bool withVka
    ) private returns (uint256 stored) {
        (ModelConfig memory config, bytes32[] memory ids, uint64[] memory times) =
            _prepare(modelId, epochs, instances, vka, withVka);
        _verify(modelId, config, proof, instances, vka, withVka);
        stored = _storeAll(modelId, config, ids, epochs, times, instances);
        // Only a sample repeated inside this batch can make this zero after _sampleIds.
        if (stored == 0) revert Replay(ids[0]);
    }

    /// @dev Every check that needs no proof: mode, instances, bounds, replay, attestation.
    function _prepare(bytes32 modelId, uint256[] memory epochs, uint256[] calldata instances, bytes32[] memory vka, bool withVka)
        private
        view
        returns (ModelConfig memory config, bytes32[] memory ids, uint64[] memory times)
    {
        config = _activeModel(modelId).config;
        _checkMode(modelId, config, epochs, vka, withVka);
        _checkInstances(modelId, config, instances);
        // Fixed params (the default) cost this one branch on a field already in memory.
        if (config.paramCount != 0) _checkParams(modelId, config, instances);
        (ids,) = _sampleIds(modelId, config, epochs, instances);
        times = config.source != address(0) ? _attest(modelId, config, epochs, instances) : new uint64[](0);
    }

    /// @dev The entry point matches the model: plain or reusable verifier, attested or not.
    function _checkMode(bytes32 modelId, ModelConfig memory config, uint256[] memory epochs, bytes32[] memory vka, bool withVka)
        private
        pure
    {
        if (withVka != (config.vkaDigest != bytes32(0))) {
            if (withVka) revert InvalidModelConfig("model uses a plain verifier");
            revert VkaRequired(modelId);
        }
        if (withVka && keccak256(abi.encodePacked(vka)) != config.vkaDigest) revert VkaMismatch(modelId);
        bool attested = config.source != address(0);
        if (attested && epochs.length == 0) revert AttestationRequired(modelId);
        if (!attested && epochs.length != 0) revert NotAttested(modelId);
    }

    /// @dev Field canonicity of every instance, and each sample's inputs inside the registered bounds.
    function _checkInstances(bytes32 modelId, ModelConfig memory config, uint256[] calldata instances) private view {
        uint256 n = instances.length;
        if (n != config.instanceCount) revert WrongInstanceCount(config.instanceCount, n);
        unchecked {
            for (uint256 i = 0; i < n; ++i) {
                // A non-canonical element (x + p) would pass a verifier that reduces mod p and
                // yield a second commitment, hence a second prediction id, for the same input.
                if (instances[i] >= FixedPoint.FIELD_MODULUS) revert InstanceOutOfField(i);
            }
            uint256 width = _boundCount[modelId];
            if (width == 0) return;
            uint256[] storage packed = _bounds[modelId];
            uint256 batch = config.batchSize;
            uint256 offset = config.inputOffset;
            for (uint256 j = 0; j < width; ++j) {
                (int256 low, int256 high) = _unpackBound(packed[j / 2], j % 2);
                for (uint256 k = 0; k < batch; ++k) {
                    uint256 felt = instances[offset + k * width + j];
                    int256 value = felt > FixedPoint.HALF_MODULUS ? -int256(FixedPoint.FIELD_MODULUS - felt) : int256(felt);
                    if (value < low || value > high) revert InputOutOfRange(k, j, value, low, high);
                }
            }
        }
    }

    /// @dev Hashed params: the proof's param-hash instances must be the ones pinned at registration. The
    ///      verifier accepts a proof made with any weights (they are private witness values); only this
    ///      check makes them the registered ones.
    function _checkParams(bytes32 modelId, ModelConfig memory config, uint256[] calldata instances) private view {
        uint256 start = config.paramOffset;
        bytes32 proved = keccak256(abi.encodePacked(instances[start:start + config.paramCount]));
        bytes32 pinned = _paramsCommitments[modelId];
        if (proved != pinned) revert ParamsMismatch(modelId, pinned, proved);
    }

    function _packBound(Bound calldata bound) private pure returns (uint256) {
        return uint256(uint64(int64(bound.low))) | (uint256(uint64(int64(bound.high))) << 64);
    }

    function _unpackBound(uint256 word, uint256 half) private pure returns (int256 low, int256 high) {
        uint256 pair = half == 0 ? word : word >> 128;
        low = int64(uint64(pair));
        high = int64(uint64(pair >> 64));
    }

    /// @dev Each sample's prediction id, and how many are not stored yet (checked before verifying,
    ///      so a batch with nothing new costs its sender little).
    function _sampleIds(bytes32 modelId, ModelConfig memory config, uint256[] memory epochs, uint256[] calldata instances)
        private
        view
        returns (bytes32[] memory ids, uint256 fresh)
    {
        uint256 batch = config.batchSize;
        if (epochs.length != 0 && epochs.length != batch) revert WrongEpochCount(batch, epochs.length);
        ids = new bytes32[](batch);
        bool multi = config.source == address(this);
        for (uint256 k = 0; k < batch; ++k) {
            if (epochs.length != 0) {
                // Multi-feed: one epoch for every feed, replay keyed per feed. One feed: increasing epochs.
                if (multi && epochs[k] != epochs[0]) revert MixedEpochs(k, epochs[k], epochs[0]);
                if (!multi && k > 0 && epochs[k] <= epochs[k - 1]) revert EpochsNotIncreasing(k);
                bytes32 scope = multi ? feedKeyOf(modelId, k) : modelId;
                ids[k] = predictionIdOf(scope, bytes32(epochs[k]));
                if (!_epochPublished(scope, epochs[k])) ++fresh;
            } else {
                ids[k] = predictionIdOf(modelId, _sampleCommitment(config, instances, k));
                if (_records[ids[k]] == 0) ++fresh;
            }
        }
        if (fresh == 0) revert Replay(ids[0]);
    }

    uint256 private constant EPOCHS_PER_WORD = 255;
    uint256 private constant WORD_IN_USE = uint256(1) << 255;
    int80 private constant WIDE = type(int80).min;

    function _epochPublished(bytes32 modelId, uint256 epoch) private view returns (bool) {
        return _publishedEpochs[modelId][epoch / EPOCHS_PER_WORD] & (uint256(1) << (epoch % EPOCHS_PER_WORD)) != 0;
    }

    /// @dev The proof's inputs must be the source's instances for its epochs (multi-feed: each
    ///      sample's own source's at the one epoch), recent enough and fresh.
    function _attest(bytes32 modelId, ModelConfig memory config, uint256[] memory epochs, uint256[] calldata instances)
        private
        view
        returns (uint64[] memory times)
    {
        uint256 batch = epochs.length;
        uint256 width = config.inputCount / batch;
        bool multi = config.source == address(this);
        uint256[] memory expected;
        (expected, times) = multi
            ? _feedInstances(modelId, config, epochs[0], width)
            : _sourceInstances(IFeatureSource(config.source), epochs, config.maxEpochLag);
        // A source answering with another shape attests nothing.
        if (expected.length != batch * width || times.length != batch) revert InputNotAttested(epochs[0], 0, 0, 0);
        _checkWindows(expected, instances[config.inputOffset:config.inputOffset + config.inputCount], width, epochs, multi);
        for (uint256 k = 0; k < batch; ++k) {
            // uint256: a huge maxAge must not wrap into "already stale".
            uint256 expires = uint256(times[k]) + config.maxAge;
            if (expires < block.timestamp) revert StaleData(epochs[k], times[k], uint64(expires));
        }
    }

    /// @dev Each sample's inputs equal its window in `expected` (sample-major, `width` per sample).
    function _checkWindows(uint256[] memory expected, uint256[] calldata inputs, uint256 width, uint256[] memory epochs, bool multi)
        private
        pure
    {
        for (uint256 k = 0; k < epochs.length; ++k) {
            uint256 j = _firstDifference(expected, k, inputs, k, width);
            if (j == width) continue;
            if (multi) _misattributed(expected, inputs, width, k, epochs[k]);
            revert InputNotAttested(epochs[k], j, inputs[k * width + j], expected[k * width + j]);
        }
    }

    /// @dev One feed: its instances at every epoch of the batch, each epoch within maxEpochLag of its latest.
    function _sourceInstances(IFeatureSource source, uint256[] memory epochs, uint256 maxEpochLag)
        private
        view
        returns (uint256[] memory, uint64[] memory)
    {
        uint256 latest = source.latestEpoch();
        for (uint256 k = 0; k < epochs.length; ++k) {
            if (epochs[k] > latest || latest - epochs[k] > maxEpochLag) revert EpochTooOld(epochs[k], latest, maxEpochLag);
        }
        return source.instancesAt(epochs);
    }

    /// @dev Multi-feed: feed k's instances at `epoch` as sample k's, each feed's own latest epoch bounding the lag.
    function _feedInstances(bytes32 modelId, ModelConfig memory config, uint256 epoch, uint256 width)
        private
        view
        returns (uint256[] memory expected, uint64[] memory times)
    {
        address[] storage feeds = _feeds[modelId];
        uint256 batch = feeds.length;
        expected = new uint256[](batch * width);
        times = new uint64[](batch);
        uint256[] memory one = new uint256[](1);
        one[0] = epoch;
        for (uint256 k = 0; k < batch; ++k) {
            (uint256[] memory got, uint64[] memory time) = _sourceInstances(IFeatureSource(feeds[k]), one, config.maxEpochLag);
            if (got.length != width || time.length != 1) revert InputNotAttested(epoch, 0, 0, 0);
            // got holds exactly `width` words (checked above): copy them to sample k's place.
            assembly {
                mcopy(add(add(expected, 0x20), shl(5, mul(k, width))), add(got, 0x20), shl(5, width))
            }
            times[k] = time[0];
        }
    }

    /// @dev Sample k is not its feed's window: name the attack when it is another feed's (only on the revert path).
    function _misattributed(uint256[] memory expected, uint256[] calldata inputs, uint256 width, uint256 k, uint256 epoch) private pure {
        uint256 batch = expected.length / width;
        for (uint256 j = 0; j < batch; ++j) {
            if (j != k && _firstDifference(expected, j, inputs, k, width) == width) {
                if (_firstDifference(expected, k, inputs, j, width) == width) revert FeedsSwapped(k, j, epoch);
                revert SampleFromAnotherFeed(k, j, epoch);
            }
        }
    }

    /// @dev The first feature where sample `sample` of `inputs` differs from window `feed` of `expected`
    ///      (sample-major, `width` each; the caller keeps both in range); `width` when they are equal.
    function _firstDifference(uint256[] memory expected, uint256 feed, uint256[] calldata inputs, uint256 sample, uint256 width)
        private
        pure
        returns (uint256 i)
    {
        unchecked {
            for (; i < width; ++i) {
                uint256 want;
                assembly {
                    want := mload(add(add(expected, 0x20), shl(5, add(mul(feed, width), i))))
                }
                if (inputs[sample * width + i] != want) return i;
            }
        }
    }

    function _verify(
        bytes32 modelId,
        ModelConfig memory config,
        bytes calldata proof,
        uint256[] calldata instances,
        bytes32[] memory vka,
        bool withVka
    ) private view {
        // The code hash check also warms the verifier's account for the call below.
        bytes32 codehash = config.verifier.codehash;
        if (codehash != config.verifierCodehash) revert VerifierCodeMismatch(modelId, config.verifierCodehash, codehash);
        bytes memory call = withVka
            ? abi.encodeCall(IHalo2VerifierReusable.verifyProof, (proof, instances, vka))
            : abi.encodeCall(IHalo2Verifier.verifyProof, (proof, instances));
        // staticcall: a verifier must not change state or call back into the oracle.
        (bool ok, bytes memory ret) = config.verifier.staticcall(call);
        // Word 0 is the success flag for both verifiers; a revert and `false` both reject.
        if (!ok || ret.length < 32 || abi.decode(ret, (uint256)) != 1) revert VerificationFailed(modelId);
    }

    function _storeAll(
        bytes32 modelId,
        ModelConfig memory config,
        bytes32[] memory ids,
        uint256[] memory epochs,
        uint64[] memory times,
        uint256[] calldata instances
    ) private returns (uint256 stored) {
        if (config.source == address(this)) return _storeFeeds(modelId, config, ids, epochs[0], times, instances);
        if (config.source != address(0)) return _storeAttested(modelId, config, ids, epochs, times, instances);
        bytes32 newest;
        for (uint256 k = 0; k < ids.length; ++k) {
            // Already published (before this batch, or earlier in it): skip, keep the others.
            if (_records[ids[k]] != 0) {
                emit PredictionSkipped(modelId, ids[k]);
                continue;
            }
            _storeUnattested(modelId, config, ids[k], instances, k);
            ++stored;
            newest = ids[k];
        }
        if (newest != bytes32(0)) _models[modelId].latest = newest;
    }

    /// @dev Unattested: the record under its prediction id; fresh from the block's time.
    function _storeUnattested(bytes32 modelId, ModelConfig memory config, bytes32 id, uint256[] calldata instances, uint256 k)
        private
    {
        uint64 time = uint64(block.timestamp);
        int256[] memory values = _outputs(config, instances, k);
        _write(id, values, time, time + config.maxAge);
        _published(modelId, id, 0, _sampleCommitment(config, instances, k), values, time, time + config.maxAge);
    }

    /// @dev A bitmap word of `_publishedEpochs` held in memory while a batch walks its epochs.
    ///      `first` is the batch's first stored epoch (the key of its root).
    struct EpochBits {
        uint256 index;
        uint256 word;
        uint256 first;
    }

    /// @dev Attested: set each new epoch's published bit (one slot write per 256 epochs touched),
    ///      commit the stored samples as one root, and keep the newest prediction in full.
    function _storeAttested(
        bytes32 modelId,
        ModelConfig memory config,
        bytes32[] memory ids,
        uint256[] memory epochs,
        uint64[] memory times,
        uint256[] calldata instances
    ) private returns (uint256 stored) {
        bytes32[] memory leaves = new bytes32[](ids.length);
        BatchEntry memory newest;
        EpochBits memory bits = EpochBits(type(uint256).max, 0, 0);
        for (uint256 k = 0; k < ids.length; ++k) {
            if (!_claimEpoch(modelId, bits, epochs[k])) {
                emit PredictionSkipped(modelId, ids[k]);
                continue;
            }
            // Epochs increase, so the last stored sample is the batch's newest.
            newest = BatchEntry(epochs[k], times[k], times[k] + config.maxAge, _outputs(config, instances, k));
            if (stored == 0) bits.first = epochs[k];
            leaves[stored++] = _leaf(newest);
            _published(modelId, ids[k], newest.epoch, bytes32(0), newest.values, newest.dataTimestamp, newest.expiresAt);
        }
        _publishedEpochs[modelId][bits.index] = bits.word;
        if (stored != 0) _commitBatch(modelId, leaves, stored, bits.first, newest);
    }

    /// @dev Multi-feed: per feed, set the epoch's published bit and keep the feed's newest prediction
    ///      in one slot (one bitmap word and one record written per new sample, no batch commitment).
    function _storeFeeds(
        bytes32 modelId,
        ModelConfig memory config,
        bytes32[] memory ids,
        uint256 epoch,
        uint64[] memory times,
        uint256[] calldata instances
    ) private returns (uint256 stored) {
        for (uint256 k = 0; k < ids.length; ++k) {
            bytes32 key = feedKeyOf(modelId, k);
            uint256 word = _publishedEpochs[key][epoch / EPOCHS_PER_WORD] | WORD_IN_USE;
            uint256 bit = uint256(1) << (epoch % EPOCHS_PER_WORD);
            if (word & bit != 0) {
                emit PredictionSkipped(modelId, ids[k]);
                continue;
            }
            _publishedEpochs[key][epoch / EPOCHS_PER_WORD] = word | bit;
            int256[] memory values = _outputs(config, instances, k);
            uint64 expires = times[k] + config.maxAge;
            // The feed's record holds the first output as an int80.
            if (values[0] != int80(values[0])) revert OutputOutOfRange(config.outputOffset + k, values[0]);
            if (epoch > uint80(_feedLatest[key])) {
                _feedLatest[key] = uint256(uint80(epoch)) | (uint256(times[k]) << 80) | (uint256(expires) << 128)
                    | (uint256(uint80(int80(values[0]))) << 176);
                _writeMore(key, values);
            }
            ++stored;
            _published(modelId, ids[k], epoch, bytes32(0), values, times[k], expires);
        }
    }

    /// @dev One emit site for the three store paths (smaller code).
    function _published(bytes32 modelId, bytes32 id, uint256 epoch, bytes32 commitment, int256[] memory values, uint64 time, uint64 expires)
        private
    {
        emit PredictionPublished(modelId, id, epoch, commitment, values, time, expires, msg.sender);
    }

    /// @dev Set `epoch`'s published bit in the cached word; false if it was already set.
    function _claimEpoch(bytes32 modelId, EpochBits memory bits, uint256 epoch) private returns (bool) {
        if (epoch / EPOCHS_PER_WORD != bits.index) {
            // Epochs increase, so each bitmap word is loaded and written once per batch.
            if (bits.index != type(uint256).max) _publishedEpochs[modelId][bits.index] = bits.word;
            bits.index = epoch / EPOCHS_PER_WORD;
            bits.word = _publishedEpochs[modelId][bits.index] | WORD_IN_USE;
        }
        uint256 bit = uint256(1) << (epoch % EPOCHS_PER_WORD);
        if (bits.word & bit != 0) return false;
        bits.word |= bit;
        return true;
    }

    /// @dev Store the batch's root under its first stored epoch (readers pass the batch, whose first
    ///      entry names it), and the newest prediction in full if it is the model's newest.
    function _commitBatch(bytes32 modelId, bytes32[] memory leaves, uint256 stored, uint256 firstEpoch, BatchEntry memory newest)
        private
    {
        assembly {
            mstore(leaves, stored) // only the stored samples' leaves
        }
        bytes32 root = keccak256(abi.encodePacked(leaves));
        _batchRoots[modelId][firstEpoch] = root;
        emit BatchPublished(modelId, firstEpoch, root, stored);
        Model storage model = _models[modelId];
        if (newest.epoch > model.latestEpoch) _keepNewest(model, modelId, newest);
    }

    /// @dev The newest prediction into the model's flags slot (one write with latestEpoch), or, when
    ///      it does not fit, into _records[modelId]; further outputs under the modelId either way.
    function _keepNewest(Model storage model, bytes32 modelId, BatchEntry memory newest) private {
        int256 first = newest.values[0];
        bool narrow = first > WIDE && first <= type(int80).max && newest.expiresAt <= type(uint48).max;
        model.latestEpoch = uint64(newest.epoch);
        model.latestTime = narrow ? uint48(newest.dataTimestamp) : 0;
        model.latestExpires = narrow ? uint48(newest.expiresAt) : 0;
        model.latestValue = narrow ? int80(first) : WIDE;
        if (!narrow) _records[modelId] = _record(first, newest.dataTimestamp, newest.expiresAt);
        _writeMore(modelId, newest.values);
    }

    /// @dev The commitment to one stored sample; readers recompute it from the event's fields.
    function _leaf(BatchEntry memory entry) private pure returns (bytes32) {
        return keccak256(abi.encode(entry.epoch, entry.dataTimestamp, entry.expiresAt, entry.values));
    }

    /// @dev Sample k's outputs, decoded; each must fit the int128 a record holds.
    function _outputs(ModelConfig memory config, uint256[] calldata instances, uint256 k) private pure returns (int256[] memory values) {
        uint256 width = config.outputCount / config.batchSize;
        uint256 first = config.outputOffset + k * width;
        values = new int256[](width);
        for (uint256 i = 0; i < width; ++i) {
            int256 value = FixedPoint.decodeFelt(instances[first + i]);
            if (value > type(int128).max || value < type(int128).min) revert OutputOutOfRange(first + i, value);
            values[i] = value;
        }
    }

    function _write(bytes32 id, int256[] memory values, uint64 dataTime, uint64 expiresAt) private {
        _records[id] = _record(values[0], dataTime, expiresAt);
        _writeMore(id, values);
    }

    function _record(int256 first, uint64 dataTime, uint64 expiresAt) private pure returns (uint256) {
        return _low128(first) | (uint256(dataTime) << 128) | (uint256(expiresAt) << 192);
    }

    /// @dev Outputs 1.. two per slot under `id`.
    function _writeMore(bytes32 id, int256[] memory values) private {
        for (uint256 i = 1; i < values.length; i += 2) {
            uint256 word = _low128(values[i]);
            if (i + 1 < values.length) word |= _low128(values[i + 1]) << 128;
            _moreValues[id][(i - 1) / 2] = word;
        }
    }

    function _low128(int256 value) private pure returns (uint256) {
        return uint256(uint128(int128(value)));
    }

    /// @dev keccak256 of sample k's input instances (the whole input range when batchSize is 1).
    function _sampleCommitment(ModelConfig memory config, uint256[] calldata instances, uint256 k) private pure returns (bytes32) {
        uint256 width = config.inputCount / config.batchSize;
        uint256 start = config.inputOffset + k * width;
        return keccak256(abi.encodePacked(instances[start:start + width]));
    }

    // ------------------------------------------------------------------ readers (checked)

    /// @notice The newest prediction of a model (the highest epoch, for an attested model);
    ///         reverts if expired, retired or absent.
    function latestPrediction(bytes32 modelId) external view returns (Prediction memory) {
        Model storage model = _activeModel(modelId);
        if (model.config.source == address(0)) return _fresh(_read(model, modelId, model.latest, model.latest, 0));
        uint256 epoch = model.latestEpoch;
        if (epoch == 0) revert NoPrediction(modelId, bytes32(0));
        bytes32 id = predictionIdOf(modelId, bytes32(epoch));
        // The newest prediction of an attested model is in its flags slot, or (WIDE) under its modelId.
        if (model.latestValue == WIDE) return _fresh(_read(model, modelId, modelId, id, epoch));
        Prediction memory p = _assemble(model, modelId, id, epoch, model.latestValue, model.latestTime, model.latestExpires);
        p.modelId = modelId;
        return _fresh(p);
    }

    /// @notice An attested model's prediction from a stored batch; same rules as latestPrediction.
    /// @param batch the batch's stored samples in order, as its PredictionPublished events give them
    ///        (the `count` events of the model before its BatchPublished event).
    /// @param index the position of the wanted sample in `batch`.
    function predictionFromBatch(bytes32 modelId, BatchEntry[] calldata batch, uint256 index)
        external
        view
        returns (Prediction memory)
    {
        return _fresh(_fromBatch(_activeModel(modelId), modelId, batch, index));
    }

    /// @notice An unattested model's prediction on given input instances; same rules as latestPrediction.
    function predictionFor(bytes32 modelId, bytes32 inputCommitment) external view returns (Prediction memory) {
        Model storage model = _activeModel(modelId);
        if (model.config.source != address(0)) revert AttestationRequired(modelId);
        bytes32 id = predictionIdOf(modelId, inputCommitment);
        return _fresh(_read(model, modelId, id, id, 0));
    }

    function _fresh(Prediction memory p) private view returns (Prediction memory) {
        if (block.timestamp > p.expiresAt) revert Stale(p.predictionId, p.expiresAt, block.timestamp);
        return p;
    }

    /// @dev The record stored under `key` (a prediction id, or an attested modelId for its newest).
    function _read(Model storage model, bytes32 modelId, bytes32 key, bytes32 predictionId, uint256 epoch)
        private
        view
        returns (Prediction memory p)
    {
        uint256 record = _records[key];
        if (key == bytes32(0) || record == 0) revert NoPrediction(modelId, predictionId);
        p = _assemble(model, key, predictionId, epoch, int128(uint128(record)), uint64(record >> 128), uint64(record >> 192));
        p.modelId = modelId;
    }

    /// @dev A prediction from its first output and times, its further outputs read under `key`
    ///      (the caller sets its modelId).
    function _assemble(Model storage model, bytes32 key, bytes32 predictionId, uint256 epoch, int256 first, uint64 time, uint64 expires)
        private
        view
        returns (Prediction memory p)
    {
        uint256 width = model.config.outputCount / model.config.batchSize;
        p.predictionId = predictionId;
        p.epoch = epoch;
        p.dataTimestamp = time;
        p.expiresAt = expires;
        p.scale = model.config.scale;
        p.values = new int256[](width);
        p.values[0] = first;
        for (uint256 i = 1; i < width; ++i) {
            uint256 word = _moreValues[key][(i - 1) / 2];
            p.values[i] = int128(uint128(i % 2 == 1 ? word : word >> 128));
        }
    }

    /// @dev Sample `index` of a batch the caller passes, checked against the stored commitment.
    function _fromBatch(Model storage model, bytes32 modelId, BatchEntry[] calldata batch, uint256 index)
        private
        view
        returns (Prediction memory p)
    {
        if (model.config.source == address(0)) revert NotAttested(modelId);
        if (index >= batch.length) revert NoPrediction(modelId, bytes32(0));
        uint256 first = batch[0].epoch;
        bytes32[] memory leaves = new bytes32[](batch.length);
        for (uint256 k = 0; k < batch.length; ++k) {
            leaves[k] = _leaf(batch[k]);
        }
        bytes32 root = _batchRoots[modelId][first];
        // A zero root is no batch; any other mismatch is a forged or altered batch.
        if (root == bytes32(0) || root != keccak256(abi.encodePacked(leaves))) revert BatchMismatch(modelId, first);
        BatchEntry calldata entry = batch[index];
        p.modelId = modelId;
        p.predictionId = predictionIdOf(modelId, bytes32(entry.epoch));
        p.epoch = entry.epoch;
        p.dataTimestamp = entry.dataTimestamp;
        p.expiresAt = entry.expiresAt;
        p.scale = model.config.scale;
        p.values = entry.values;
    }

    /// @notice A multi-feed model's newest prediction for feed `index` (its highest epoch); same rules as latestPrediction.
    function feedPrediction(bytes32 modelId, uint256 index) public view returns (Prediction memory p) {
        Model storage model = _activeModel(modelId);
        if (index >= _feeds[modelId].length) revert UnknownFeed(modelId, index);
        bytes32 key = feedKeyOf(modelId, index);
        uint256 word = _feedLatest[key];
        uint256 epoch = uint80(word);
        if (epoch == 0) revert NoPrediction(modelId, bytes32(0));
        p = _assemble(model, key, predictionIdOf(key, bytes32(epoch)), epoch, int80(uint80(word >> 176)), uint48(word >> 80), uint48(word >> 128));
        p.modelId = modelId;
        return _fresh(p);
    }

    /// @notice As feedPrediction, for the feed whose feature source is `source`.
    function feedPredictionOf(bytes32 modelId, address source) external view returns (Prediction memory) {
        address[] storage feeds = _feeds[modelId];
        for (uint256 k = 0; k < feeds.length; ++k) {
            if (feeds[k] == source) return feedPrediction(modelId, k);
        }
        revert UnknownFeed(modelId, uint256(uint160(source)));
    }

    /// @notice A multi-feed model's feature sources, in batch order (empty for other models).
    function feedsOf(bytes32 modelId) external view returns (address[] memory) {
        return _feeds[modelId];
    }

    /// @dev The replay scope of feed `index` of a multi-feed model: keccak256(abi.encodePacked(modelId, uint16(index)))
    ///      (zkml.oracle.encoding.feed_key). Its samples' ids are predictionIdOf(key, epoch), and
    ///      isEpochPublished(key, epoch) tells whether feed `index` is published at an epoch.
    function feedKeyOf(bytes32 modelId, uint256 index) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(modelId, uint16(index)));
    }

    // ------------------------------------------------------------------ readers (raw)

    /// @notice An unattested model's stored prediction with no freshness or activity rule (audits, history).
    /// @param epoch ignored (kept for callers of the previous ABI); 0.
    function predictionRecord(bytes32 modelId, bytes32 predictionId, uint256 epoch) external view returns (Prediction memory) {
        Model storage model = _knownModel(modelId);
        if (model.config.source != address(0)) revert AttestationRequired(modelId);
        return _read(model, modelId, predictionId, predictionId, epoch);
    }

    /// @notice An attested model's sample from a stored batch with no freshness or activity rule.
    function batchRecord(bytes32 modelId, BatchEntry[] calldata batch, uint256 index) external view returns (Prediction memory) {
        return _fromBatch(_knownModel(modelId), modelId, batch, index);
    }

    /// @notice Whether an unattested prediction id is stored (for any model).
    function isPublished(bytes32 predictionId) external view returns (bool) {
        return _records[predictionId] != 0;
    }

    /// @notice Whether an attested model's epoch is published.
    function isEpochPublished(bytes32 modelId, uint256 epoch) external view returns (bool) {
        return _epochPublished(modelId, epoch);
    }

    /// @notice A model's registration: config, active flag, whether it exists, latest prediction id and epoch.
    function models(bytes32 modelId)
        external
        view
        returns (ModelConfig memory config, bool active, bool exists, bytes32 latest, uint64 latestEpoch)
    {
        Model storage model = _models[modelId];
        latest = model.latest;
        if (model.config.source != address(0) && model.latestEpoch != 0) latest = predictionIdOf(modelId, bytes32(uint256(model.latestEpoch)));
        return (model.config, model.active, model.exists, latest, model.latestEpoch);
    }

    /// @notice A hashed-params model's pinned params commitment (zero: params fixed in the vk).
    function paramsCommitmentOf(bytes32 modelId) external view returns (bytes32) {
        return _paramsCommitments[modelId];
    }

    /// @notice A model's registered per-feature input bounds.
    function inputBounds(bytes32 modelId) external view returns (Bound[] memory bounds) {
        uint256 width = _boundCount[modelId];
        bounds = new Bound[](width);
        for (uint256 j = 0; j < width; ++j) {
            (int256 low, int256 high) = _unpackBound(_bounds[modelId][j / 2], j % 2);
            bounds[j] = Bound(int128(low), int128(high));
        }
    }

    // ------------------------------------------------------------------ pure helpers

    /// @notice The input commitment of a list of input instances (or of the one hash instance).
    function inputCommitmentOf(uint256[] calldata inputInstances) external pure returns (bytes32) {
        return keccak256(abi.encodePacked(inputInstances));
    }

    /// @notice The replay key: keccak256(modelId, key), key = the epoch (attested) or the input commitment.
    function predictionIdOf(bytes32 modelId, bytes32 key) public pure returns (bytes32) {
        return keccak256(abi.encode(modelId, key));
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
