"""Start the app: a private temporary folder for uploads and outputs, then Gradio on
``host:port`` (127.0.0.1 unless told otherwise; a public share link only when asked).

The folder holds every uploaded photo, so it goes whichever way the server stops: Ctrl-C
(SIGINT), ``kill`` (SIGTERM, what service managers and container runtimes send) or a closed
terminal (SIGHUP) all stop the server the same way, and the folder is removed on the way out."""
from __future__ import annotations

import atexit
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

MAX_FILE_SIZE = "50mb"  # an upload larger than this is refused by the server before it is stored
STARTUP_CHECK_S = 120  # how long the server may take to answer its own first request
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)  # stopped like Ctrl-C (SIGINT), uploads removed


def say(text: str) -> None:
    """One start-up line on stdout, shown at once (start-up takes tens of seconds)."""
    print(text, flush=True)


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


def stop_on_signals() -> None:
    """SIGTERM and SIGHUP raise ``KeyboardInterrupt`` in the main thread, as Ctrl-C does: Gradio
    then closes the server and the ``finally`` / ``atexit`` clean-up runs (the default action of
    these signals ends the process at once, leaving the upload folder behind). A repeated signal
    while stopping is ignored, so the clean-up is not cut short."""

    def stop(signum: int, frame: object) -> None:
        for s in STOP_SIGNALS:
            signal.signal(s, signal.SIG_IGN)
        print(f"{signal.Signals(signum).name}: stopping the server", file=sys.stderr, flush=True)
        raise KeyboardInterrupt

    for s in STOP_SIGNALS:
        signal.signal(s, stop)


def serve(zoo_root: str | os.PathLike | None = None, runs_dir: str | os.PathLike | None = None,
          host: str = "127.0.0.1", port: int | None = None, share: bool = False, device: str | None = None) -> None:
    """Serve until interrupted (Ctrl-C, SIGTERM or SIGHUP). Uploads and outputs live in one
    temporary folder, removed when it stops."""
    stop_on_signals()
    temp = Path(tempfile.mkdtemp(prefix="lava-vision-app-"))
    atexit.register(shutil.rmtree, temp, ignore_errors=True)  # also after an error before the try below
    try:
        _serve(temp, zoo_root, runs_dir, host, port, share, device)
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _serve(temp: Path, zoo_root: str | os.PathLike | None, runs_dir: str | os.PathLike | None, host: str,
           port: int | None, share: bool, device: str | None) -> None:
    # Gradio stores uploads (and copies served files) under GRADIO_TEMP_DIR; some of its modules read
    # it when imported, so it is set before the first import. No usage statistics are sent.
    os.environ["GRADIO_TEMP_DIR"] = str(temp / "gradio")
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    say("loading the web framework (Gradio)...")
    import gradio as gr
    import gradio.networking

    gradio.networking.url_ok = patient_url_ok
    from .sources import Models, list_sources
    from .ui import CSS, build_app

    say(f"loading zoo entries{' and the runs in ' + str(runs_dir) if runs_dir is not None else ''}...")
    sources, problems = list_sources(zoo_root, runs_dir)
    for p in problems:
        print(f"warning: {p}", file=sys.stderr)
    if not sources:
        raise FileNotFoundError("nothing to show: the zoo has no entries and --runs gave no finished run")
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {host}: anyone who can reach this machine can use the app", file=sys.stderr)
    say(f"building the page over {len(sources)} choices (models load when one is picked)...")
    app = build_app(Models(sources, zoo_root, device), problems, temp / "outputs")
    # system fonts: the default theme would fetch web fonts, and the app runs offline
    theme = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                              font_mono=["ui-monospace", "monospace"])
    say(f"starting the server on {host}:{port or 'the first free port from 7860'} (Ctrl-C stops it)...")
    app.queue(default_concurrency_limit=1).launch(server_name=host, server_port=port, share=share,
                                                  max_file_size=MAX_FILE_SIZE, theme=theme, css=CSS, show_error=False,
                                                  footer_links=["api"], inbrowser=False)
