// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title Chainlink's price-feed interface (AggregatorV3Interface), as its feeds and proxies expose it.
/// @notice A round is (roundId, answer, startedAt, updatedAt, answeredInRound). On a proxy the round id
///         is `phaseId << 64 | aggregatorRoundId`, so ids are consecutive only within one phase.
interface AggregatorV3Interface {
    function decimals() external view returns (uint8);

    function description() external view returns (string memory);

    function version() external view returns (uint256);

    function getRoundData(uint80 roundId)
        external
        view
        returns (uint80 roundId_, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);

    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);
}
