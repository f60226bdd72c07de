// The rules page (soc_api/templates/rules.html): list, switch per unit, dry run, all through /api/v1/rules.
const LEVELS = {informational: "提示", low: "低", medium: "中", high: "高", critical: "严重"};
// The page says whether the user may switch rules (the API checks it again).
const canSwitch = document.getElementById("rules").dataset.canSwitch === "true";
function el(tag, text, attrs) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}
function showError(message) {
  const box = document.getElementById("rules-error");
  box.textContent = message; box.hidden = false;
}
async function api(method, url, body) {
  const response = await fetch(url, {method, headers: body ? {"Content-Type": "application/json"} : {}, body: body ? JSON.stringify(body) : undefined, credentials: "same-origin"});
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.detail ? (typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail)) : response.statusText);
  return data;
}
function selectedUnit() {
  const select = document.getElementById("switch-unit");
  const option = select.options[select.selectedIndex];
  return {id: option.value, code: option.dataset.code};
}
async function loadRules() {
  const data = await api("GET", "/api/v1/rules");
  const body = document.querySelector("#rules tbody");
  body.replaceChildren();
  document.getElementById("rule-count").textContent = data.rules.length;
  for (const rule of data.rules) {
    const row = el("tr", null, {"data-rule-id": rule.id});
    const name = el("td");
    name.append(el("span", rule.title_zh || rule.title, {class: "rule-title"}));
    if (rule.title_zh) name.append(" ", el("small", rule.title));
    if (rule.kind === "correlation") name.append(" ", el("small", "关联 correlation", {class: "tag"}));
    if (rule.kind === "crs") name.append(" ", el("small", "OWASP CRS", {class: "tag"}));
    row.append(name, el("td", `${LEVELS[rule.level] || rule.level} ${rule.level}`, {class: `level level-${rule.level}`}));
    row.append(el("td", rule.tags.filter(t => t.startsWith("attack.")).map(t => t.slice(7).toUpperCase()).join(" "), {class: "attack"}));
    row.append(el("td", `${rule.pack} · ${rule.file}`));
    row.append(el("td", rule.disabled_units.length ? rule.disabled_units.join("、") : "—", {class: "disabled-units"}));
    if (canSwitch) {
      const cell = el("td");
      for (const [enabled, label] of [[false, "停用 Disable"], [true, "启用 Enable"]]) {
        const button = el("button", label, {type: "button", class: enabled ? "enable" : "disable"});
        button.addEventListener("click", async () => {
          const unit = selectedUnit();
          try {
            await api("PUT", `/api/v1/rules/${encodeURIComponent(rule.id)}/units/${unit.id}`, {enabled});
            await loadRules();
          } catch (error) { showError(`切换失败 Switch failed: ${error.message}`); }
        });
        cell.append(button, " ");
      }
      row.append(cell);
    }
    body.append(row);
  }
  const rejected = document.getElementById("rejected");
  rejected.replaceChildren(...data.rejected.map(r => el("li", `${r.file}${r.line ? ":" + r.line : ""} — ${r.reason}`)));
  document.getElementById("rejected-count").textContent = data.rejected.length;
}
document.getElementById("dry-run").addEventListener("submit", async (submit) => {
  submit.preventDefault();
  const form = new FormData(submit.target);
  const result = document.getElementById("dry-run-result");
  const errors = document.getElementById("dry-run-errors");
  const rows = document.querySelector("#dry-run-alerts tbody");
  rows.replaceChildren(); errors.replaceChildren();
  try {
    const data = await api("POST", "/api/v1/rules/dry-run", {rule: form.get("rule"), events: form.get("events"), pipeline: form.get("pipeline")});
    document.getElementById("dry-run-summary").textContent =
      `${data.rules} 条规则，${data.events} 个事件，${data.alerts.length} 条告警 · ${data.rules} rule(s), ${data.events} event(s), ${data.alerts.length} alert(s)`;
    for (const message of [...data.rule_errors, ...data.event_errors]) errors.append(el("li", message));
    for (const alert of data.alerts) {
      const row = el("tr", null, {class: "dry-run-alert"});
      row.append(el("td", `${alert.rule_title}（${LEVELS[alert.level] || alert.level}）`), el("td", alert.event_ids.join(", ")));
      const explanation = el("td");
      const list = el("dl", null, {class: "explanation"});
      for (const [field, values] of Object.entries(alert.matches || {})) {
        list.append(el("dt", field), el("dd", Array.isArray(values) ? values.join(" | ") : JSON.stringify(values)));
      }
      explanation.append(list); row.append(explanation); rows.append(row);
    }
  } catch (error) {
    errors.append(el("li", `试运行失败 Dry run failed: ${error.message}`));
  }
  result.hidden = false;
});
loadRules().catch(error => showError(`规则加载失败 Could not load rules: ${error.message}`));
