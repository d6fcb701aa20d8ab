// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title A model's input, attested by on-chain data.
/// @notice "The model's input at data epoch E": for each epoch, the exact field elements a circuit
///         takes as its public input instances (quantized as the circuit quantizes its input), and
///         the timestamp of the data they were computed from. The oracle accepts a proof of an
///         attested model only when its input instances equal these.
interface IFeatureSource {
    /// @notice Input instances per epoch (one sample of the model).
    function width() external view returns (uint256);

    /// @notice The newest epoch the source can compute.
    function latestEpoch() external view returns (uint256);

    /// @notice Each epoch's input instances, concatenated in the order given, and each epoch's data timestamp.
    /// @dev Reverts when an epoch has no complete, valid data.
    function instancesAt(uint256[] calldata epochs)
        external
        view
        returns (uint256[] memory instances, uint64[] memory timestamps);
}
