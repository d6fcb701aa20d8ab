// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title Field-element decoding for ezkl public instances.
/// @notice ezkl encodes a real x as the field element round(x * 2^scale), a negative value
///         as p - |round(x * 2^scale)| with p the BN254 scalar field modulus. These
///         functions mirror zkml.evm.onchain.felt_to_int / decode_instances exactly.
library FixedPoint {
    /// @dev BN254 scalar field modulus (the instances' field).
    uint256 internal constant FIELD_MODULUS =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;
    /// @dev Values above this stand for negatives (p is odd, so this is (p - 1) / 2).
    uint256 internal constant HALF_MODULUS = FIELD_MODULUS / 2;
    int256 internal constant WAD = 1e18;

    /// @notice A field element is not below the modulus, so it is not canonical.
    error FeltOutOfField(uint256 felt);
    /// @notice The scale is too large to be an ezkl fixed-point scale.
    error ScaleTooLarge(uint8 scale);

    /// @notice The signed fixed-point integer a field element stands for.
    /// @dev |result| <= (p - 1) / 2 < 2^253, so it always fits an int256.
    function decodeFelt(uint256 felt) internal pure returns (int256) {
        if (felt >= FIELD_MODULUS) revert FeltOutOfField(felt);
        if (felt > HALF_MODULUS) return -int256(FIELD_MODULUS - felt);
        return int256(felt);
    }

    /// @notice A scaled integer (value / 2^scale) as 1e18 fixed point, truncated toward zero.
    /// @dev value * 1e18 fits in int256 for |value| < 2^196, which holds for any value a
    ///      circuit can produce at scales used in practice; larger values revert on overflow
    ///      (checked arithmetic) rather than wrap.
    function toWad(int256 value, uint8 scale) internal pure returns (int256) {
        if (scale > 128) revert ScaleTooLarge(scale);
        return (value * WAD) / int256(uint256(1) << scale);
    }
}
