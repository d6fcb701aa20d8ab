"""The EVM stages of a :class:`zkml.pipeline.Pipeline`: verifier, VKA, deployment, on-chain check.

A mixin over the pipeline's public parts: its workspace, its
:class:`zkml.stage_runner.StageRunner` (manifest cache, memo, timings) and its local
stages (keys, compile, srs), so these stages are cached and timed exactly as the
local ones; it holds no state of its own.
The core flow ends with :meth:`EvmStages.verify_onchain`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zkml.artifacts import CompiledCircuit, Keys, Srs
    from zkml.evm.onchain import OnchainResult
    from zkml.evm.records import Deployment
    from zkml.evm.rpc import Connection, Sender
    from zkml.evm.verifier import VerifierArtifact, Vka
    from zkml.stage_runner import StageRunner
    from zkml.workspace import Workspace


class EvmStages:
    """Verifier generation, VKA, deployment and on-chain verification over a pipeline's workspace."""

    if TYPE_CHECKING:  # provided by zkml.pipeline.Pipeline: its workspace, stage runner and local stages
        ws: Workspace
        runner: StageRunner

        def keys(self) -> Keys: ...
        def compile(self) -> CompiledCircuit: ...
        def srs(self) -> Srs: ...

    def verifier(self, *, reusable: bool = False, solc: Path | None = None) -> VerifierArtifact:
        """Generate and compile the Solidity verifier (reused while vk, settings and compiler are unchanged)."""
        key = f"verifier_{'reusable' if reusable else 'plain'}"
        artifact: VerifierArtifact = self.runner.memo(key, lambda: self._verifier(reusable, solc))
        return artifact

    def _verifier(self, reusable: bool, solc: Path | None) -> VerifierArtifact:
        from zkml.evm.solc import find_compiler
        from zkml.evm.verifier import ABI_NAME, BIN_NAME, RECORD_NAME, SOL_NAME, generate_verifier, load_verifier

        keys = self.keys()
        circuit = self.compile()
        srs = self.srs()
        compiler = find_compiler(solc)
        out_dir = self.ws.evm_dir(reusable=reusable)
        stage = "verifier_reusable" if reusable else "verifier"
        # The reusable verifier does not depend on the vk: only on the settings' shape.
        parts = {
            "vk": None if reusable else keys.vk_sha256,
            "settings": circuit.settings.sha256,
            "srs": srs.sha256,
            "compiler": compiler.short_version if hasattr(compiler, "short_version") else str(compiler),
            "reusable": reusable,
        }

        def produce() -> tuple[dict[str, Path], dict[str, Any]]:
            artifact = generate_verifier(keys.vk_path, circuit.settings.path, srs.path, out_dir, reusable=reusable, compiler=compiler)
            files = {name: out_dir / name for name in (SOL_NAME, BIN_NAME, ABI_NAME, RECORD_NAME)}
            return files, {"runtime_bytes": artifact.runtime_bytes}

        self.runner.run_stage(stage, parts, produce)
        artifact = load_verifier(out_dir)
        self.ws.set_info(stage, artifact.as_dict())
        return artifact

    def vka(self) -> Vka:
        """The verifying-key artifact that registers this model on a reusable verifier."""
        vka: Vka = self.runner.memo("vka", self._vka)
        return vka

    def _vka(self) -> Vka:
        from zkml.evm.verifier import create_vka, read_vka

        keys = self.keys()
        circuit = self.compile()
        srs = self.srs()
        path = self.ws.vka
        parts = {"vk": keys.vk_sha256, "settings": circuit.settings.sha256, "srs": srs.sha256}

        def produce() -> tuple[dict[str, Path], dict[str, Any]]:
            create_vka(keys.vk_path, circuit.settings.path, srs.path, path)
            return {"vka": path}, {}

        self.runner.run_stage("vka", parts, produce)
        return read_vka(path, keys.vk_sha256)

    def deploy(
        self, conn: Connection, *, allow_unsafe_srs: bool = False, allow_oversize: bool = False, sender: Sender | None = None
    ) -> Deployment:
        """Deploy (or reuse) the plain verifier on ``conn``; recorded in ``deployments.json``."""
        from zkml.evm.deploy import deploy_verifier

        artifact = self.verifier()
        srs = self.srs()
        return self.runner.timed(
            "deploy",
            lambda: deploy_verifier(
                conn,
                artifact,
                self.ws.root,
                srs_unsafe=srs.unsafe,
                srs_reason=srs.unsafe_reason,
                allow_unsafe_srs=allow_unsafe_srs,
                allow_oversize=allow_oversize,
                sender=sender,
            ),
        )

    def deploy_reusable(
        self, conn: Connection, *, allow_unsafe_srs: bool = False, sender: Sender | None = None
    ) -> tuple[Deployment, Deployment, Vka]:
        """Deploy (or reuse) the reusable verifier and register this model's VKA on it.

        The reusable verifier's code does not grow with the verifying key, so it
        fits under EIP-170 where a plain verifier does not.

        Returns:
            The verifier's deployment, the VKA registration, and the VKA
            (pass it to :meth:`verify_onchain`).
        """
        from zkml.evm.deploy import deploy_verifier, register_vka

        artifact = self.verifier(reusable=True)
        vka = self.vka()
        srs = self.srs()
        unsafe, reason = srs.unsafe, srs.unsafe_reason

        def action() -> tuple[Deployment, Deployment]:
            deployment = deploy_verifier(
                conn, artifact, self.ws.root, srs_unsafe=unsafe, srs_reason=reason, allow_unsafe_srs=allow_unsafe_srs, sender=sender
            )
            registration = register_vka(
                conn,
                deployment,
                artifact,
                vka,
                self.ws.root,
                srs_unsafe=unsafe,
                srs_reason=reason,
                allow_unsafe_srs=allow_unsafe_srs,
                sender=sender,
            )
            return deployment, registration

        deployment, registration = self.runner.timed("deploy", action)
        return deployment, registration, vka

    def verify_onchain(
        self, conn: Connection, address: str, *, send: bool = True, sender: Sender | None = None, vka: Vka | None = None
    ) -> OnchainResult:
        """Check the workspace's proof against a deployed verifier (with ``vka`` for a reusable one)."""
        from zkml.evm.onchain import verify_onchain

        proof_path = self.ws.proof
        result: OnchainResult = self.runner.timed(
            "verify_onchain", lambda: verify_onchain(conn, address, proof_path, vka=vka, send=send, sender=sender)
        )
        return result
