"""The page at `/` in a real browser (Debian's headless Chromium through selenium): type,
speak, the audio element gets playable audio, streamed or whole; bad input shows the error."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from tritontts.serving.server import TritonServer

from gateway_servers import running_gateway
from tiers import starting

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture(scope="module")
def page(server: TritonServer, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[webdriver.Chrome]:
    if CHROMIUM is None or DRIVER is None:
        pytest.fail("chromium and chromium-driver are missing: `make system-deps` installs them")
    starting("browser", "headless Chromium")
    log = tmp_path_factory.mktemp("gateway-page") / "gateway.log"
    with running_gateway(server.grpc_url, log=log) as url:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        # Chromium started by root needs the second flag; autoplay lets play() start unclicked.
        for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--autoplay-policy=no-user-gesture-required", "--mute-audio"):
            options.add_argument(flag)
        browser = webdriver.Chrome(service=Service(DRIVER), options=options)
        try:
            browser.get(url + "/")
            yield browser
        finally:
            browser.quit()


def speak(browser: webdriver.Chrome, text: str, *, fmt: str = "mp3",
          stream: bool = False) -> None:
    box = browser.find_element(By.ID, "text")
    box.clear()
    box.send_keys(text)
    Select(browser.find_element(By.ID, "format")).select_by_visible_text(fmt)
    checkbox = browser.find_element(By.ID, "stream")
    if checkbox.is_selected() != stream:
        checkbox.click()
    browser.find_element(By.ID, "speak").click()


def playable_seconds(browser: webdriver.Chrome) -> float:
    """Seconds of audio the element can play once it has loaded them (0 until then)."""
    def loaded(driver: webdriver.Chrome) -> float | None:
        state = driver.execute_script(
            "const p = document.getElementById('player');"
            "const end = p.buffered.length ? p.buffered.end(p.buffered.length - 1) : 0;"
            "return [p.readyState, end, document.getElementById('status').textContent,"
            " document.getElementById('error').textContent];")
        ready, buffered, status, error = state
        assert not error, error
        return buffered if ready >= 2 and status == "done" and buffered > 0 else None

    return WebDriverWait(browser, 90, poll_frequency=0.25).until(loaded)


@pytest.mark.parametrize("fmt", ["mp3", "wav"])
def test_speak_and_play(page: webdriver.Chrome, fmt: str) -> None:
    text = "The page plays what the gateway speaks."
    speak(page, text, fmt=fmt)
    seconds = playable_seconds(page)
    assert 0.2 * len(text.split()) <= seconds <= 0.8 * len(text.split())
    link = page.find_element(By.ID, "download")
    assert link.is_displayed() and link.get_attribute("download") == f"speech.{fmt}"


def test_streamed_playback(page: webdriver.Chrome) -> None:
    text = "Streamed audio starts playing while the rest is still on its way."
    speak(page, text, stream=True)
    assert playable_seconds(page) >= 0.2 * len(text.split())


def test_bad_input_shows_the_error(page: webdriver.Chrome) -> None:
    speak(page, " ")
    message = WebDriverWait(page, 30).until(
        lambda driver: driver.find_element(By.ID, "error").text)
    assert "input" in message


def test_live_mode_types_into_the_socket_and_plays_as_it_comes(page: webdriver.Chrome) -> None:
    text = ("Words go into the socket one by one. Audio plays while the rest is typed, "
            "sentence after sentence, as a language model would write its answer. "
            "The last words arrive long after the first ones were heard.")
    box = page.find_element(By.ID, "text")
    box.clear()
    box.send_keys(text)
    page.find_element(By.ID, "live").click()

    def finished(driver: webdriver.Chrome) -> dict | None:
        stats = driver.execute_script("return window.liveStats;")
        error = driver.find_element(By.ID, "error").text
        assert not error, error
        return stats if stats and stats["flushed"] else None

    stats = WebDriverWait(page, 90, poll_frequency=0.25).until(finished)
    assert stats["frames"] >= 2
    assert 0.2 * len(text.split()) <= stats["seconds"] <= 0.8 * len(text.split())
    # The first sentence was heard before the whole text had been typed (60 ms a word).
    assert stats["firstAudioMs"] < stats["flushSentMs"], stats
