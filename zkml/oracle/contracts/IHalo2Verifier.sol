// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title Interfaces of the verifiers ezkl generates and zkml compiles.
/// @notice Both verifiers REVERT on an invalid proof, and the reusable one can also
///         return false: a consumer must treat a revert and `false` alike (rejected).

/// @notice The plain verifier: one contract per model, verifying key baked into the bytecode.
interface IHalo2Verifier {
    /// @param proof the proof bytes (`hex_proof` of ezkl's proof.json).
    /// @param instances the public instances, each a BN254 scalar field element.
    function verifyProof(bytes calldata proof, uint256[] calldata instances) external returns (bool);
}

/// @notice The reusable verifier: one circuit-independent contract, one VKA (verifying-key
///         artifact, a bytes32[]) per model, registered once and passed with every proof.
/// @dev Its return data is not valid ABI for `bool`: the first 32-byte word is the success
///      flag, followed by rescaled instances. Call it with a low-level call and read word 0.
interface IHalo2VerifierReusable {
    function verifyProof(bytes calldata proof, uint256[] calldata instances, bytes32[] calldata vka)
        external
        returns (bool);

    function registerVka(bytes32[] calldata vka) external returns (bytes32);
}
