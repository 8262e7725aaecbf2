"""The browser demo runs the .tflite with LiteRT.js in headless Chromium, as Python LiteRT does."""

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from mobile_demo.run_tflite import TFLiteEditor

WEB = Path(__file__).parents[2] / "mobile_demo" / "web"
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")

pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed"),
    pytest.mark.skipif(not (WEB / "node_modules" / "@litertjs" / "core").is_dir(),
                       reason="run `npm install` in mobile_demo/web first"),
    pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                       reason="Chromium is not installed (apt-get install chromium)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_tflite):
    port = _free_port()
    process = subprocess.Popen(["node", "serve.mjs", "--port", str(port), "--model",
                                str(tiny_tflite)], cwd=WEB, stdout=subprocess.PIPE, text=True)
    try:
        assert "DefGAN demo on" in process.stdout.readline()
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_page_edits_like_python_litert(server, tiny_tflite, tiny_data_dir, tmp_path):
    photo = sorted((tiny_data_dir / "imgs").glob("*.png"))[0]
    start = time.monotonic()
    subprocess.run(["node", "test_page.mjs", server, str(photo), str(tmp_path / "page.json"),
                    str(tmp_path / "page.png")], cwd=WEB, check=True, timeout=120)
    page = json.loads((tmp_path / "page.json").read_text())
    assert page["errors"] == [], page["errors"]
    assert page["isolated"], "COOP/COEP headers missing: threaded wasm is off"
    size = page["size"]
    crop = np.array(page["crop"], np.uint8).reshape(size, size, 4)[..., :3]
    # A 32² photo and a 32² model: the centre crop is the photo itself.
    np.testing.assert_array_equal(crop, cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB))
    editor = TFLiteEditor(tiny_tflite, threads=1)
    np.testing.assert_allclose(page["source"], editor.estimate_aus(crop), atol=1e-5)
    np.testing.assert_allclose(page["target"], editor.expression("happy"), atol=1e-6)
    expected = editor._edit(image=crop[None].astype(np.float32) / 127.5 - 1,
                            source_aus=np.float32(page["source"])[None],
                            target_aus=np.float32(page["target"])[None])["edited"][0]
    edited = np.array(page["edited"], np.float32).reshape(size, size, 3)
    # LiteRT.js (wasm XNNPACK) vs Python LiteRT: same kernels, float rounding only.
    assert np.abs(edited - expected).max() < 1e-4
    canvas = np.array(page["editedCanvas"], np.uint8).reshape(size, size, 4)[..., :3]
    before = np.array(page["inputCanvas"], np.uint8).reshape(size, size, 4)[..., :3]
    centre = np.s_[size // 4:3 * size // 4, size // 4:3 * size // 4]
    assert np.abs(canvas[centre].astype(int) - before[centre]).max() > 0
    assert np.abs(canvas.astype(int) - np.rint((expected + 1) * 127.5)).max() <= 1
    assert (tmp_path / "page.png").stat().st_size > 0
    assert time.monotonic() - start < 60


@pytest.mark.parametrize("path", ["/index.html", "/../web_sibling/secret.txt", "/%E0%A4%A",
                                  "/%2e%2e/run_tflite.py"])
def test_server_serves_the_demo_folder_only(server, path):
    import http.client
    from urllib.parse import urlsplit

    sibling = WEB.parent / "web_sibling"  # its path starts with the demo folder's
    sibling.mkdir(exist_ok=True)
    (sibling / "secret.txt").write_text("not for the browser")
    address = urlsplit(server)
    try:
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
        connection.request("GET", path)  # sent as written: no client-side normalisation
        status = connection.getresponse().status
        connection.close()
    finally:
        shutil.rmtree(sibling)
    assert status == (200 if path == "/index.html" else 404)
