// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {AggregatorV3Interface} from "./AggregatorV3Interface.sol";

/// @title PushFeed
/// @notice A price feed its owner pushes rounds into, AggregatorV3-compatible, for local work and
///         tests: rounds are numbered 1, 2, 3, ... and each round's updatedAt is the block time it
///         was pushed in. On a real chain, point the feature source at a Chainlink feed instead.
contract PushFeed is AggregatorV3Interface {
    struct Round {
        int192 answer;
        uint64 updatedAt;
    }

    uint8 public immutable override decimals;
    string public override description;
    uint256 public constant override version = 1;

    address public owner;
    address public pendingOwner;
    uint80 public latestRound;
    mapping(uint80 => Round) private _rounds;

    /// @dev Chainlink's own event names, so feed watchers written for Chainlink work unchanged.
    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);
    event NewRound(uint256 indexed roundId, address indexed startedBy, uint256 startedAt);
    event OwnershipTransferStarted(address indexed previousOwner, address indexed newOwner);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    error NotOwner(address caller);
    error NoDataPresent(uint80 roundId);
    error AnswerOutOfRange(int256 answer);
    error InvalidParameter(string reason);

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    constructor(uint8 decimals_, string memory description_) {
        if (decimals_ > 36) revert InvalidParameter("decimals above 36");
        decimals = decimals_;
        description = description_;
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
    }

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

    /// @notice Publish a new round with this answer (a positive int192); returns its round id.
    function push(int256 answer) external onlyOwner returns (uint80) {
        return _push(answer);
    }

    /// @notice Publish several rounds in order (one block time for all); returns the last round id.
    function pushMany(int256[] calldata answers) external onlyOwner returns (uint80 last) {
        if (answers.length == 0) revert InvalidParameter("no answers");
        for (uint256 i = 0; i < answers.length; ++i) {
            last = _push(answers[i]);
        }
    }

    function _push(int256 answer) private returns (uint80 roundId) {
        // int192 is Chainlink's own answer range; it keeps a round in one storage slot. A price is
        // positive: a zero or negative round is one no consumer may use (Chainlink's guidance).
        if (answer > type(int192).max || answer <= 0) revert AnswerOutOfRange(answer);
        roundId = latestRound + 1;
        latestRound = roundId;
        _rounds[roundId] = Round(int192(answer), uint64(block.timestamp));
        emit NewRound(roundId, msg.sender, block.timestamp);
        emit AnswerUpdated(answer, roundId, block.timestamp);
    }

    function getRoundData(uint80 roundId) public view override returns (uint80, int256, uint256, uint256, uint80) {
        Round memory r = _rounds[roundId];
        if (r.updatedAt == 0) revert NoDataPresent(roundId);
        return (roundId, r.answer, r.updatedAt, r.updatedAt, roundId);
    }

    function latestRoundData() external view override returns (uint80, int256, uint256, uint256, uint80) {
        return getRoundData(latestRound);
    }
}
