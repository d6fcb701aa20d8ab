// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {VerifiedPredictionOracle} from "./VerifiedPredictionOracle.sol";
import {FixedPoint} from "./FixedPoint.sol";

/// @title ForecastVault
/// @notice Example DeFi consumer: sets its target allocation between a risky and a safe asset
///         from a verified forecast of the next-period return (circuits/mlp_regressor: input
///         the 8 most recent returns, output the predicted next return).
///
/// It trusts exactly one oracle and one modelId, both fixed at construction, and only acts on
/// fresh predictions (the oracle's readers revert on stale, retired or unknown). The policy is
/// deliberately simple: target risky share = neutral + sensitivity * forecast, clamped to
/// [0, 100%]. A real vault would then trade toward the target; here it records it.
contract ForecastVault {
    uint16 public constant MAX_BPS = 10_000;

    VerifiedPredictionOracle public immutable oracle;
    bytes32 public immutable modelId;
    /// @notice Risky share (bps) when the forecast is zero.
    uint16 public immutable neutralBps;
    /// @notice Risky-share change in bps per 1.0 (100%) of forecast return.
    uint256 public immutable bpsPerUnitReturn;

    uint16 public targetRiskyBps;
    int256 public lastForecastWad;
    bytes32 public lastPredictionId;
    uint64 public lastRebalance;

    event Rebalanced(bytes32 indexed predictionId, int256 forecastWad, uint16 previousBps, uint16 targetRiskyBps);

    error WrongModel(bytes32 expected, bytes32 actual);
    error AlreadyApplied(bytes32 predictionId);
    error InvalidParameter(string reason);

    constructor(VerifiedPredictionOracle oracle_, bytes32 modelId_, uint16 neutralBps_, uint256 bpsPerUnitReturn_) {
        if (address(oracle_).code.length == 0) revert InvalidParameter("no contract at oracle");
        if (neutralBps_ > MAX_BPS) revert InvalidParameter("neutral share above 100%");
        oracle = oracle_;
        modelId = modelId_;
        neutralBps = neutralBps_;
        bpsPerUnitReturn = bpsPerUnitReturn_;
        targetRiskyBps = neutralBps_;
    }

    /// @notice Act on the pinned model's latest fresh prediction.
    function rebalance() external returns (uint16) {
        return _apply(oracle.latestPrediction(modelId));
    }

    /// @notice Act on a specific prediction; refuses one made by any other model.
    function rebalanceOn(bytes32 predictionId) external returns (uint16) {
        return _apply(oracle.getPrediction(predictionId));
    }

    /// @notice Act only on the prediction for inputs the caller vouches for.
    /// @param inputInstances the model inputs as field elements (public binding) or the one
    ///        Poseidon hash instance (hashed binding) the vault expects, e.g. from its own feed.
    function rebalanceFor(uint256[] calldata inputInstances) external returns (uint16) {
        return _apply(oracle.predictionFor(modelId, keccak256(abi.encodePacked(inputInstances))));
    }

    /// @notice The allocation a forecast maps to (pure, for off-chain checks).
    function targetFor(int256 forecastWad) public view returns (uint16) {
        int256 shift = (forecastWad * int256(bpsPerUnitReturn)) / 1e18;
        int256 target = int256(uint256(neutralBps)) + shift;
        if (target < 0) return 0;
        if (target > int256(uint256(MAX_BPS))) return MAX_BPS;
        return uint16(uint256(target));
    }

    function _apply(VerifiedPredictionOracle.Prediction memory p) private returns (uint16) {
        // The oracle already scopes by modelId; checking again keeps the vault safe even if
        // a future reader returned another model's record.
        if (p.modelId != modelId) revert WrongModel(modelId, p.modelId);
        bytes32 predictionId = oracle.predictionIdOf(p.modelId, p.inputCommitment);
        if (predictionId == lastPredictionId) revert AlreadyApplied(predictionId);
        int256 forecastWad = FixedPoint.toWad(p.values[0], p.scale);
        uint16 previous = targetRiskyBps;
        uint16 target = targetFor(forecastWad);
        targetRiskyBps = target;
        lastForecastWad = forecastWad;
        lastPredictionId = predictionId;
        lastRebalance = uint64(block.timestamp);
        emit Rebalanced(predictionId, forecastWad, previous, target);
        return target;
    }
}
