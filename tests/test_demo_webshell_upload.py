"""`make run`'s sample traffic: the webshell uploaded as a multipart form is cut out of the body as a
file, scanned by the bundled YARA pack and raised as an incident of the school."""
from __future__ import annotations

import httpx

from edusoc.demo import replay_demo_samples
from tests.api_helpers import serving, start_demo_process

YARA_RULE = "yara:campus_webshells:EDUSOC_PHP_OneLiner_Eval_Request"


def test_the_sample_webshell_upload_becomes_an_incident_on_the_extracted_file(tmp_path, clock):
    demo = start_demo_process(tmp_path, clock)
    with serving(demo) as live:
        report = list(replay_demo_samples(live.base_url, [demo.sensors["sensor-school1-edge"]]))
        assert all("0 rejected" in line for line in report), report
        token = httpx.post(f"{live.base_url}/api/v1/auth/token",
                           data={"username": "duty", "password": "edusoc-demo"}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        incidents = httpx.get(f"{live.base_url}/api/v1/incidents", headers=headers).json()["items"]
        (webshell,) = [i for i in incidents if "EDUSOC_PHP_OneLiner_Eval_Request" in str(i["title_en"])]
        assert webshell["unit_name"] == "示范区第一中学"
        detail = httpx.get(f"{live.base_url}/api/v1/incidents/{webshell['id']}", headers=headers).json()
        (alert,) = [a for a in detail["alerts"] if a["rule_id"] == YARA_RULE]
        stored = demo.runtime.event_store.get(alert["event_id"])
        assert stored is not None and stored["event.dataset"] == "edusoc.files"
        assert stored["file.name"] == "homework.php" and stored["file.mime_type"] == "text/x-php"
        assert stored["file.declared_mime_type"] == "image/jpeg" and stored["source.ip"] == "198.51.100.23"
