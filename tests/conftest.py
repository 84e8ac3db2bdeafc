"""Fixtures shared by test modules. ``app_server``: one running tools/app.py for the session
(tests/test_app.py and tests/test_app_browser.py), see tests/app_server.py."""
import pytest


@pytest.fixture(scope="session")
def app_setup(tmp_path_factory):
    """``(folder, tiny SAM checkpoint, text2image recipe)`` of the app's zoo copy and runs."""
    from app_server import make_app_folder

    return make_app_folder(tmp_path_factory.mktemp("app"))


@pytest.fixture(scope="session")
def app_server(app_setup):
    """``(url, folder)`` of the running app."""
    from app_server import running_app

    with running_app(app_setup[0]) as url:
        yield url, app_setup[0]
