"""Screenshots of the Hub in the window: a Hub id sized up in the model panel, and its
download as a run stage (bytes, file, speed, ETA, Cancel). Offline: the tiny model is
served by the loopback Hub of tests/hub_server.py, throttled so the download is seen.

    xvfb-run -s "-screen 0 1600x1000x24" python scripts/hub_screenshot.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import shots

REPO = "demo-org/tiny-gpt2-padded"


def main() -> int:
    ap = shots.parser(__doc__, out="hub-size-up.png", width=1280, height=820, timeout=120)
    ap.add_argument("--out-download", default=str(shots.ROOT / "docs" / "hub-download.png"))
    args = ap.parse_args()
    tmp = shots.offscreen(own_cache=True)
    sys.path.insert(0, str(shots.ROOT / "tests"))
    from hub_server import LoopbackHub

    server = LoopbackHub(rate=6 * 1024 * 1024).start()
    # before huggingface_hub is imported (transformers, by make_tiny_model): it fixes these
    os.environ.update(HF_ENDPOINT=server.url, HF_HOME=str(tmp / "hf"),
                      HF_TOKEN_PATH=str(tmp / "hf" / "token"))
    from hub_fixtures import add_big_model
    from tiny_model import make_tiny_model

    model = make_tiny_model(Path(tempfile.mkdtemp(prefix="ftgui-shot-model-")))
    add_big_model(server, model, 60, REPO, card={"license": "apache-2.0"})
    import yaml
    config = tmp / "hub.yaml"
    config.write_text(yaml.safe_dump({
        "model": {"source": REPO, "method": "lora"},
        "data": {"source": str(shots.ROOT / "tests" / "fixtures" / "wiki-small.txt"),
                 "block_size": 64, "validation": 0.1},
        "training": {"max_steps": 20, "batch_size": 4}}), encoding="utf-8")
    win = shots.window(tmp, args.width, args.height)
    win.show()
    win.load_config(str(config))
    panel = win.model_panel
    shots.wait(lambda: panel.hub_info.isVisible() and panel.info is not None, args.timeout)
    shots.save(win, args.out)

    rp = win.run_panel
    shots.wait(lambda: rp.train_button.isEnabled(), args.timeout)
    rp.train_button.click()
    shots.wait(lambda: "model-00002" in rp.stats.text() and rp.progress.value() > 0,
               args.timeout)
    shots.wait(lambda: False, 1.5)   # a second report: the speed settles
    shots.save(win, args.out_download, settle_s=0.2)
    rp.stop_button.click()
    shots.wait(lambda: not win.running, args.timeout)
    code = shots.finish(win)
    server.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
