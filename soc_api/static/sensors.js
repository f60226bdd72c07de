// 探针与采集 page: register, rotate and revoke through /api/v1/sensors (the session cookie authenticates).
(function () {
  const error = document.getElementById("sensor-error");

  function showError(text) {
    error.textContent = text;
    error.hidden = false;
  }

  async function call(path, body) {
    const response = await fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: body ? {"Content-Type": "application/json"} : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail || response.statusText);
      throw new Error(`操作失败 / Failed (${response.status}): ${detail}`);
    }
    return data;
  }

  // The token is shown once, in the page only: reloading the page (or leaving it) loses it for good.
  function showToken(name, token) {
    document.getElementById("token-sensor").textContent = name;
    document.getElementById("token-value").textContent = token;
    document.getElementById("token-once").hidden = false;
  }

  document.getElementById("register-sensor").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    try {
      const data = await call("/api/v1/sensors", {name: form.name.value, unit_id: Number(form.unit_id.value)});
      showToken(data.sensor.name, data.token);
      form.reset();
    } catch (e) { showError(e.message); }
  });

  for (const button of document.querySelectorAll("button.rotate")) {
    button.addEventListener("click", async () => {
      const row = button.closest("tr");
      if (!confirm(`更换 ${row.dataset.name} 的令牌？旧令牌立即失效。/ Rotate the token? The old one stops working at once.`)) return;
      try {
        const data = await call(`/api/v1/sensors/${button.dataset.sensorId}/token`);
        showToken(row.dataset.name, data.token);
      } catch (e) { showError(e.message); }
    });
  }

  for (const button of document.querySelectorAll("button.revoke")) {
    button.addEventListener("click", async () => {
      const row = button.closest("tr");
      if (!confirm(`吊销探针 ${row.dataset.name}？其令牌立即失效。/ Revoke this sensor? Its token stops working at once.`)) return;
      try {
        await call(`/api/v1/sensors/${button.dataset.sensorId}/revoke`);
        row.querySelector(".sensor-status").textContent = "已吊销";
        row.classList.add("status-revoked");
        row.querySelector("td.actions").textContent = "";
      } catch (e) { showError(e.message); }
    });
  }

  // Periodic jobs (system admins): due at the scheduler's next tick; the process that owns the job runs it.
  for (const button of document.querySelectorAll("button.run-job")) {
    button.addEventListener("click", async () => {
      try {
        await call(`/api/v1/jobs/${button.dataset.jobId}/run`);
        button.closest("tr").querySelector("td.next-run").textContent = "即将运行 / due now";
        button.disabled = true;
      } catch (e) { showError(e.message); }
    });
  }
})();
