"""Drives the web console of a running `kms serve` in headless Chromium (Selenium, Debian's
chromium and chromium-driver): signs in (a wrong secret first), creates a key, finds it in the
key list, edits its policy with an error and sees AWS's message, tags and aliases it, and reads
its audit records with the chain's verification and the chart. Screenshots go to SCREENSHOTS.
Run by host/kms/tests/http_api.rs with CONSOLE_URL, ACCESS_KEY_ID, SECRET_ACCESS_KEY,
CHROMIUM, CHROMEDRIVER and SCREENSHOTS set."""

import os
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import Select, WebDriverWait

URL = os.environ["CONSOLE_URL"]
SHOTS = os.environ["SCREENSHOTS"]

options = webdriver.ChromeOptions()
options.binary_location = os.environ["CHROMIUM"]
for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", "--window-size=1400,1000",
             f"--user-data-dir={tempfile.mkdtemp()}"]:
    options.add_argument(flag)
driver = webdriver.Chrome(service=Service(os.environ["CHROMEDRIVER"]), options=options)
wait = WebDriverWait(driver, 20)


def by_id(name):
    return wait.until(seen.presence_of_element_located((By.ID, name)))


def text_in(name, text):
    wait.until(seen.text_to_be_present_in_element((By.ID, name), text))


def shot(name):
    driver.save_screenshot(os.path.join(SHOTS, f"{name}.png"))


try:
    driver.get(URL + "/console/")
    by_id("access-key-id").send_keys(os.environ["ACCESS_KEY_ID"])
    by_id("secret-access-key").send_keys("not-the-secret")
    by_id("sign-in-button").click()
    text_in("sign-in-error", "Exception")
    assert by_id("nav").get_attribute("hidden") is not None, "signed in with a wrong secret"
    by_id("secret-access-key").clear()
    by_id("secret-access-key").send_keys(os.environ["SECRET_ACCESS_KEY"])
    by_id("sign-in-button").click()
    wait.until(lambda d: d.find_element(By.ID, "nav").is_displayed())
    by_id("keys-table")
    shot("01-signed-in")

    # Create a key.
    by_id("nav-create").click()
    Select(by_id("create-spec")).select_by_value("SYMMETRIC_DEFAULT")
    by_id("create-description").send_keys("made in the console")
    by_id("create-button").click()
    by_id("key-details")
    text_in("key-details", "made in the console")
    key_id = driver.current_url.rsplit("/", 1)[1]
    shot("02-key-created")

    # A policy with an error is refused, the message shown beside it.
    editor = by_id("policy-editor")
    editor.clear()
    editor.send_keys('{"Version": "2012-10-17", "Statement": [ not json')
    by_id("save-policy").click()
    text_in("policy-error", "MalformedPolicyDocumentException")
    shot("03-policy-error")

    # Tags and aliases.
    by_id("tag-key").send_keys("team")
    by_id("tag-value").send_keys("payments")
    by_id("add-tag").click()
    text_in("tags", "team=payments")
    by_id("alias-name").send_keys("alias/console-key")
    by_id("create-alias").click()
    text_in("aliases", "alias/console-key")

    # The key list finds it by its tag.
    driver.get(URL + "/console/#keys")
    search = by_id("key-search")
    text_in("keys-table", key_id)
    search.send_keys("payments")
    rows = driver.find_elements(By.CSS_SELECTOR, "#keys-table .key-row")
    assert len(rows) == 1 and key_id in rows[0].text, [r.text for r in rows]
    shot("04-keys")

    # Its audit records, the chain verified, the chart drawn.
    driver.get(URL + "/console/#audit")
    text_in("audit-verification", "Chain verified")
    by_id("audit-key").send_keys(key_id)
    by_id("audit-search").click()
    text_in("audit-table", "PutKeyPolicy")
    table = by_id("audit-table").text
    assert "CreateKey" in table and "MalformedPolicyDocumentException" in table, table
    assert driver.find_elements(By.CSS_SELECTOR, "#audit-chart rect"), "no chart"
    shot("05-audit")
    print(f"KEY_ID={key_id}")
    print("console ok")
except Exception:
    shot("failure")
    print(driver.page_source[:4000])
    raise
finally:
    driver.quit()
