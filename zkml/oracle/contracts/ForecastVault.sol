// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {VerifiedPredictionOracle} from "./VerifiedPredictionOracle.sol";
import {IFeatureSource} from "./IFeatureSource.sol";
import {FixedPoint} from "./FixedPoint.sol";

/// @title ForecastVault
/// @notice Example DeFi consumer: sets its target allocation between a risky and a safe asset from
///         a verified forecast of the next-period return (circuits/mlp_regressor: input the last 8
///         percent returns of a price feed, output the predicted next return in percent).
///
/// What it acts on is fixed by the chain, not by whoever calls it, so anyone may trigger it:
///  - one oracle and one ATTESTED model, fixed at construction (the model's input is the feed's
///    data at the prediction's epoch, so nobody chose it);
///  - only the prediction for the FEED's latest epoch at the time of the call (the model's feature
///    source's `latestEpoch()`), fresh (the oracle reverts on stale, retired, unknown), and only
///    if that epoch is newer than the last one applied. The oracle stores any epoch within
///    `maxEpochLag`, so the publisher picks which windows get stored, but not which one the vault
///    acts on: a prediction on an older window is stored and readable, yet never moves the vault
///    nor starts its cooldown (`NotLatestEpoch`), whatever order epochs are published in;
///  - at most once per `cooldown` seconds, and by at most `maxStepBps` per step toward the target.
///    Only acting on the latest epoch starts the cooldown, so only the feed's own pace can: an
///    epoch that arrives during it waits, and when it ends the vault acts on whatever epoch is then
///    the latest (skipped epochs are never caught up on, so a backlog cannot be replayed).
///
/// Policy: target risky share = neutral + bpsPerOutputUnit * forecast, clamped to [0, 100%], where
/// the forecast is in the model's own output units (percent, for mlp_regressor). A real vault
/// would then trade toward the allocation; here it records it. The constructor bounds every
/// parameter: neutral 0..10000, bpsPerOutputUnit 1..1e6, maxStepBps 1..10000, cooldown 0..30 days.
contract ForecastVault {
    uint16 public constant MAX_BPS = 10_000;
    /// @notice Policy bounds (zkml.config's too): a larger sensitivity or cooldown is no policy but a mistake,
    ///         and an unbounded one would wrap negative in int256 (an inverted policy) or overflow the cooldown.
    uint256 public constant MAX_BPS_PER_OUTPUT_UNIT = 1_000_000;
    uint64 public constant MAX_COOLDOWN = 30 days;

    VerifiedPredictionOracle public immutable oracle;
    bytes32 public immutable modelId;
    /// @notice The model's feature source (the oracle never changes a registered model's source).
    IFeatureSource public immutable source;
    /// @notice Risky share (bps) when the forecast is zero.
    uint16 public immutable neutralBps;
    /// @notice Risky-share change in bps per 1.0 of the model's output (1 % for a percent forecast).
    uint256 public immutable bpsPerOutputUnit;
    /// @notice The largest change of the allocation in one rebalance.
    uint16 public immutable maxStepBps;
    /// @notice Seconds between two rebalances.
    uint64 public immutable cooldown;

    uint16 public targetRiskyBps;
    int256 public lastForecastWad;
    bytes32 public lastPredictionId;
    uint256 public lastEpoch;
    uint64 public lastRebalance;

    event Rebalanced(
        bytes32 indexed predictionId, uint256 epoch, int256 forecastWad, uint16 previousBps, uint16 desiredBps, uint16 targetRiskyBps
    );

    error WrongModel(bytes32 expected, bytes32 actual);
    error NotNewer(uint256 epoch, uint256 lastEpoch);
    /// @notice The model's newest stored prediction is not on the feed's latest epoch (yet).
    error NotLatestEpoch(uint256 epoch, uint256 latestEpoch);
    error CooldownActive(uint64 nextAllowed);
    error InvalidParameter(string reason);

    constructor(
        VerifiedPredictionOracle oracle_,
        bytes32 modelId_,
        uint16 neutralBps_,
        uint256 bpsPerOutputUnit_,
        uint16 maxStepBps_,
        uint64 cooldown_
    ) {
        if (address(oracle_).code.length == 0) revert InvalidParameter("no contract at oracle");
        if (neutralBps_ > MAX_BPS) revert InvalidParameter("neutral share above 100%");
        if (maxStepBps_ == 0 || maxStepBps_ > MAX_BPS) revert InvalidParameter("maxStepBps must be 1..10000");
        if (bpsPerOutputUnit_ == 0 || bpsPerOutputUnit_ > MAX_BPS_PER_OUTPUT_UNIT) {
            revert InvalidParameter("bpsPerOutputUnit must be 1..1000000");
        }
        if (cooldown_ > MAX_COOLDOWN) revert InvalidParameter("cooldown must be 0..2592000");
        (VerifiedPredictionOracle.ModelConfig memory config,, bool exists,,) = oracle_.models(modelId_);
        if (!exists) revert InvalidParameter("model not registered on the oracle");
        // An unattested model's input is whatever its submitter chose: never act on it.
        if (config.source == address(0)) revert InvalidParameter("model is not attested");
        // A multi-feed model (its source is the oracle) predicts per asset: one FeedForecastVault per feed.
        if ((config.source == address(oracle_)) != _perFeed()) revert InvalidParameter("multi-feed: one FeedForecastVault per feed");
        oracle = oracle_;
        modelId = modelId_;
        source = IFeatureSource(config.source);
        neutralBps = neutralBps_;
        bpsPerOutputUnit = bpsPerOutputUnit_;
        maxStepBps = maxStepBps_;
        cooldown = cooldown_;
        targetRiskyBps = neutralBps_;
    }

    /// @notice Act on the pinned model's fresh prediction for the feed's latest epoch. Anyone may call it.
    function rebalance() external returns (uint16) {
        // The epoch is the feed's, read now: never one the publisher or the caller picked.
        uint256 latest = _latestEpoch();
        if (latest <= lastEpoch) revert NotNewer(latest, lastEpoch);
        // The oracle keeps the highest stored epoch and refuses epochs beyond the source's latest,
        // so anything but `latest` here means the latest window is not published yet.
        VerifiedPredictionOracle.Prediction memory p = _prediction();
        // The oracle scopes by modelId; checking again keeps the vault safe against a reader bug.
        if (p.modelId != modelId) revert WrongModel(modelId, p.modelId);
        if (p.epoch != latest) revert NotLatestEpoch(p.epoch, latest);
        if (lastRebalance != 0 && block.timestamp < uint256(lastRebalance) + cooldown) {
            revert CooldownActive(lastRebalance + cooldown);
        }
        int256 forecastWad = FixedPoint.toWad(p.values[0], p.scale);
        uint16 previous = targetRiskyBps;
        uint16 desired = targetFor(forecastWad);
        uint16 target = _step(previous, desired);
        targetRiskyBps = target;
        lastForecastWad = forecastWad;
        lastPredictionId = p.predictionId;
        lastEpoch = p.epoch;
        lastRebalance = uint64(block.timestamp);
        emit Rebalanced(p.predictionId, p.epoch, forecastWad, previous, desired, target);
        return target;
    }

    /// @dev The feed's latest epoch (the model's source's).
    function _latestEpoch() internal view virtual returns (uint256) {
        return source.latestEpoch();
    }

    /// @dev The model's newest stored prediction.
    function _prediction() internal view virtual returns (VerifiedPredictionOracle.Prediction memory) {
        return oracle.latestPrediction(modelId);
    }

    /// @dev Whether this vault acts on one feed of a multi-feed model.
    function _perFeed() internal pure virtual returns (bool) {
        return false;
    }

    /// @notice The allocation a forecast (1e18 fixed point, model output units) maps to, before the step cap.
    function targetFor(int256 forecastWad) public view returns (uint16) {
        int256 shift = (forecastWad * int256(bpsPerOutputUnit)) / 1e18;
        int256 target = int256(uint256(neutralBps)) + shift;
        if (target < 0) return 0;
        if (target > int256(uint256(MAX_BPS))) return MAX_BPS;
        return uint16(uint256(target));
    }

    function _step(uint16 previous, uint16 desired) private view returns (uint16) {
        if (desired > previous && desired - previous > maxStepBps) return previous + maxStepBps;
        if (previous > desired && previous - desired > maxStepBps) return previous - maxStepBps;
        return desired;
    }
}

/// @title FeedForecastVault
/// @notice ForecastVault for ONE asset of a multi-feed model (one proof, one publication for K feeds at an
///         epoch): it acts on feed `feedIndex`'s prediction, and only the one for THAT feed's latest epoch
///         (its own source's `latestEpoch()`), under the same policy, cooldown and step rules. Another feed's
///         newer round never moves it, and its own new round waits until that epoch is published.
contract FeedForecastVault is ForecastVault {
    /// @notice The asset's position in the model's batch (sample k reads the k-th registered feed).
    uint256 public immutable feedIndex;
    /// @notice The asset's feature source (the oracle never changes a registered model's feeds).
    IFeatureSource public immutable feedSource;

    constructor(
        VerifiedPredictionOracle oracle_,
        bytes32 modelId_,
        uint256 feedIndex_,
        uint16 neutralBps_,
        uint256 bpsPerOutputUnit_,
        uint16 maxStepBps_,
        uint64 cooldown_
    ) ForecastVault(oracle_, modelId_, neutralBps_, bpsPerOutputUnit_, maxStepBps_, cooldown_) {
        address[] memory feeds = oracle_.feedsOf(modelId_);
        if (feedIndex_ >= feeds.length) revert InvalidParameter("no such feed of the model");
        feedIndex = feedIndex_;
        feedSource = IFeatureSource(feeds[feedIndex_]);
    }

    function _latestEpoch() internal view override returns (uint256) {
        return feedSource.latestEpoch();
    }

    function _prediction() internal view override returns (VerifiedPredictionOracle.Prediction memory) {
        return oracle.feedPrediction(modelId, feedIndex);
    }

    function _perFeed() internal pure override returns (bool) {
        return true;
    }
}
