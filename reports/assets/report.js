// ckc report: inlined into report.html. Reads the data island #ckc-data; no network.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("ckc-data").textContent);
  const SYM = { pass: "✓", fail: "✗", broken: "⊘", skip: "–", crash: "!", timeout: "◷", none: "·" };
  const panel = document.getElementById("details");
  const body = document.getElementById("details-body");
  let selected = null;

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function addField(dl, name, value, pre) {
    if (value === undefined || value === null || value === "") return;
    dl.appendChild(el("dt", name));
    const dd = el("dd");
    if (pre) dd.appendChild(el("pre", value)); else dd.textContent = String(value);
    dl.appendChild(dd);
  }
  function openPanel(title, fill) {
    body.replaceChildren();
    body.appendChild(el("h3", title));
    const dl = el("dl");
    fill(dl);
    body.appendChild(dl);
    panel.hidden = false;
    panel.setAttribute("aria-hidden", "false");
    document.body.classList.add("panel-open");
    document.documentElement.classList.add("panel-open");
    measure();
    document.getElementById("details-close").focus({ preventScroll: true });
  }
  function closePanel() {
    panel.hidden = true;
    panel.setAttribute("aria-hidden", "true");
    document.body.classList.remove("panel-open");
    document.documentElement.classList.remove("panel-open");
    measure();
    if (selected) { selected.classList.remove("selected"); selected.focus(); selected = null; }
  }
  function column(key) { return data.columns.find(c => c.key === key) || { key: key }; }

  function showCell(td) {
    const rowId = td.parentElement.dataset.row, colKey = td.dataset.col;
    const row = data.rows[rowId] || {};
    const cell = (data.cells[rowId] || {})[colKey];
    const col = column(colKey);
    if (selected) selected.classList.remove("selected");
    selected = td; td.classList.add("selected");
    openPanel(rowId + " @ " + colKey, dl => {
      const outcome = cell ? cell.o : "none";
      addField(dl, "Outcome", SYM[outcome] + " " + (cell ? outcome : "not run in this column"));
      addField(dl, "Behaviour", row.sentence || "(not in the catalogue)");
      addField(dl, "Area", row.area);
      addField(dl, "Source", row.docs);
      if (!cell) return;
      addField(dl, "Skip reason", cell.r);
      addField(dl, "Config evidence", cell.e);
      addField(dl, "What was seen", cell.d, true);
      addField(dl, "Test", (cell.s ? cell.s + ": " : "") + (cell.t || ""));
      addField(dl, "Duration", cell.ms !== undefined ? cell.ms + " ms" : "");
      addField(dl, "Kernel", col.release + " (" + col.cgroup_mode + ", " + (col.accels || []).join("/") + ")");
      addField(dl, "Run", cell.run);
      if ((outcome === "crash" || outcome === "timeout") && col.console_tail)
        addField(dl, "Console tail", col.console_tail, true);
    });
    td.scrollIntoView({ block: "nearest", inline: "nearest" });
  }
  function showColumn(key) {
    const col = column(key);
    openPanel("Kernel " + key, dl => {
      addField(dl, "Release", col.release);
      addField(dl, "cgroup mode", col.cgroup_mode);
      addField(dl, "Accelerator", (col.accels || []).join(", ") + (col.emulated ? " (emulated: figures not comparable)" : ""));
      addField(dl, "Architecture", col.arch);
      addField(dl, "Config source", (col.config_sources || []).join(", ") || "none found");
      addField(dl, "Command line", (col.cmdlines || []).join("\n"), true);
      addField(dl, "LSMs", (col.lsms || []).join(", "));
      addField(dl, "Swap", col.swap_total_kib ? col.swap_total_kib + " KiB" : "none");
      addField(dl, "VM kernel", (col.vm_kernels || []).join(", "));
      addField(dl, "VM state", (col.vm_states || []).join(", "));
      const st = col.self_tests || {};
      addField(dl, "Self-tests", Object.keys(st).map(k => st[k] + " " + k).join(", "));
      addField(dl, "Self-test problems", (col.self_test_problems || []).join("\n"), true);
      addField(dl, "Runs", (col.run_ids || []).join(", ") + (col.incomplete ? " (incomplete: the run did not finish)" : ""));
      addField(dl, "Files", (col.files || []).join("\n"), true);
      addField(dl, "Console tail", col.console_tail, true);
    });
  }

  function applyFilters() {
    const area = document.getElementById("f-area").value;
    const differ = document.getElementById("f-differ").checked;
    const wanted = new Set(Array.from(document.querySelectorAll("input.f-outcome:checked")).map(i => i.value));
    let shown = 0;
    document.querySelectorAll("#matrix tbody.area").forEach(tb => {
      let visible = 0;
      tb.querySelectorAll("tr.row").forEach(tr => {
        const outcomes = tr.dataset.outcomes.split(" ");
        const ok = (area === "" || tb.dataset.area === area) &&
          (!differ || tr.classList.contains("differs")) &&
          outcomes.some(o => wanted.has(o));
        tr.classList.toggle("hidden", !ok);
        if (ok) visible++;
      });
      tb.classList.toggle("hidden", visible === 0);
      shown += visible;
    });
    document.getElementById("f-count").textContent = shown + " of " + data.row_count + " rows shown";
  }

  document.getElementById("matrix").addEventListener("click", ev => {
    const td = ev.target.closest("td.cell");
    if (td) { showCell(td); return; }
    const th = ev.target.closest("th.col");
    if (th) showColumn(th.dataset.col);
  });
  document.getElementById("matrix").addEventListener("keydown", ev => {
    const td = ev.target.closest("td.cell");
    if (td && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); showCell(td); }
  });
  document.getElementById("details-close").addEventListener("click", closePanel);
  document.addEventListener("keydown", ev => { if (ev.key === "Escape" && !panel.hidden) closePanel(); });
  document.querySelectorAll("#filters select, #filters input").forEach(i => i.addEventListener("change", applyFilters));
  function measure() {
    const h = document.getElementById("filters").offsetHeight;
    document.documentElement.style.setProperty("--filters-h", h + "px");
  }
  window.addEventListener("resize", measure);
  measure();
  applyFilters();
  document.body.dataset.ready = "1";
})();
