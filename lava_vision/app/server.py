"""Start the app: a private temporary folder for uploads and outputs, then Gradio on
``host:port`` (127.0.0.1 unless told otherwise; a public share link only when asked)."""
from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

MAX_FILE_SIZE = "50mb"  # an upload larger than this is refused by the server before it is stored
STARTUP_CHECK_S = 120  # how long the server may take to answer its own first request


def patient_url_ok(url: str) -> bool:
    """Gradio's start-up self-check (``gradio.networking.url_ok``) gives up on the first request
    slower than 3 s and then refuses to start without a share link; on a busy machine the first
    page render takes longer. This one keeps asking for ``STARTUP_CHECK_S``."""
    import httpx

    deadline = time.monotonic() + STARTUP_CHECK_S
    while time.monotonic() < deadline:
        try:
            if httpx.head(url, timeout=30).status_code < 400:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


def serve(zoo_root: str | os.PathLike | None = None, runs_dir: str | os.PathLike | None = None,
          host: str = "127.0.0.1", port: int | None = None, share: bool = False, device: str | None = None) -> None:
    """Serve until interrupted. Uploads and outputs live in one temporary folder, removed at exit."""
    temp = Path(tempfile.mkdtemp(prefix="lava-vision-app-"))
    atexit.register(shutil.rmtree, temp, ignore_errors=True)
    # Gradio stores uploads (and copies served files) under GRADIO_TEMP_DIR; some of its modules read
    # it when imported, so it is set before the first import. No usage statistics are sent.
    os.environ["GRADIO_TEMP_DIR"] = str(temp / "gradio")
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    import gradio as gr
    import gradio.networking

    gradio.networking.url_ok = patient_url_ok
    from .sources import Models, list_sources
    from .ui import CSS, build_app

    sources, problems = list_sources(zoo_root, runs_dir)
    for p in problems:
        print(f"warning: {p}", file=sys.stderr)
    if not sources:
        raise FileNotFoundError("nothing to show: the zoo has no entries and --runs gave no finished run")
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {host}: anyone who can reach this machine can use the app", file=sys.stderr)
    app = build_app(Models(sources, zoo_root, device), problems, temp / "outputs")
    # system fonts: the default theme would fetch web fonts, and the app runs offline
    theme = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                              font_mono=["ui-monospace", "monospace"])
    app.queue(default_concurrency_limit=1).launch(server_name=host, server_port=port, share=share,
                                                  max_file_size=MAX_FILE_SIZE, theme=theme, css=CSS, show_error=False,
                                                  footer_links=["api"], inbrowser=False)
