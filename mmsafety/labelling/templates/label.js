"use strict";
// The labelling page of `mmsafety label`: every text is set with textContent (never parsed as HTML);
// the labels live in localStorage under the sample's key; "Download labels" writes a verdicts file.
(function () {
  const data = JSON.parse(document.getElementById("sample-data").textContent);
  const items = data.items;
  const byVerdict = {};
  data.verdicts.forEach(function (v) { byVerdict[v.name] = v; });
  const storageKey = "mmsafety-label:" + data.key;
  const $ = function (id) { return document.getElementById(id); };

  let storage = null;
  try {
    storage = window.localStorage;
    storage.setItem(storageKey + ":probe", "1");
    storage.removeItem(storageKey + ":probe");
  } catch (error) {
    storage = null;
  }

  function load() {
    const empty = { labeller: "", labels: {}, position: 0, advance: true };
    if (!storage) return empty;
    try {
      const saved = JSON.parse(storage.getItem(storageKey) || "null");
      if (saved && typeof saved === "object" && saved.labels && typeof saved.labels === "object") {
        return Object.assign(empty, saved);
      }
    } catch (error) { /* a damaged entry: start afresh, but leave it in place */ }
    return empty;
  }

  const state = load();
  if (!state.labeller && storage) state.labeller = storage.getItem("mmsafety-label:last-labeller") || "";
  let position = Math.min(Math.max(0, Number(state.position) || 0), items.length - 1);

  function save() {
    state.position = position;
    if (!storage) return;
    try {
      storage.setItem(storageKey, JSON.stringify(state));
      if (state.labeller) storage.setItem("mmsafety-label:last-labeller", state.labeller);
    } catch (error) {
      $("storage-warning").hidden = false;
    }
  }

  // labels by "#" + id: an id such as "__proto__" stays an ordinary key
  function slot(item) { return "#" + item.record.id; }

  function labelOf(item) {
    return Object.prototype.hasOwnProperty.call(state.labels, slot(item)) ? state.labels[slot(item)] : null;
  }

  function labelled() {
    return items.filter(function (item) { const l = labelOf(item); return l && l.verdict; }).length;
  }

  let toastTimer = null;
  function toast(text) {
    const box = $("toast");
    box.textContent = text;
    box.classList.add("shown");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { box.classList.remove("shown"); }, 1400);
  }

  // --- the fixed parts ---
  $("run").textContent = data.run;
  $("run").title = data.run;
  document.title = data.title;
  $("storage-warning").hidden = storage !== null;
  $("labeller").value = state.labeller;
  $("advance").checked = state.advance !== false;

  const verdictButtons = data.verdicts.map(function (v) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.verdict = v.name;
    button.setAttribute("aria-pressed", "false");
    button.setAttribute("aria-keyshortcuts", v.key);
    const key = document.createElement("kbd");
    key.textContent = v.key;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = v.name;
    const help = document.createElement("span");
    help.className = "help";
    button.append(key, name, help);
    button.addEventListener("click", function () { choose(v.name); });
    $("verdicts").append(button);
    return button;
  });

  const mapButtons = items.map(function (item, index) {
    const button = document.createElement("button");
    button.type = "button";
    button.tabIndex = -1;
    button.title = "Item " + (index + 1);
    button.setAttribute("aria-label", "Item " + (index + 1));
    button.addEventListener("click", function () { go(index); });
    $("map").append(button);
    return button;
  });

  // --- one item ---
  function show() {
    const item = items[position];
    const label = labelOf(item) || {};
    $("item-title").textContent = "Item " + (position + 1) + " of " + items.length;
    const badge = $("label-badge");
    badge.textContent = item.label_text;
    badge.className = "badge " + (item.benign ? "benign" : "unsafe");
    $("item-meta").textContent = item.meta;
    const image = $("image");
    const note = $("image-note");
    $("picture").classList.remove("zoomed");
    if (item.image) {
      image.hidden = false;
      image.src = item.image;
      note.hidden = !item.image_note;
      note.textContent = item.image_note || "";
    } else {
      image.hidden = true;
      image.removeAttribute("src");
      note.hidden = false;
      note.textContent = item.image_note || "This sample has no image.";
    }
    $("query").textContent = item.query;
    $("reference-box").hidden = !item.reference;
    $("reference").textContent = item.reference;
    const response = $("response");
    response.textContent = item.response_shown;
    response.classList.toggle("empty", item.response_missing);
    response.scrollTop = 0;
    $("expect").textContent = item.expect;
    verdictButtons.forEach(function (button, index) {
      const v = data.verdicts[index];
      const allowed = item.choices.indexOf(v.name) >= 0;
      button.hidden = !allowed;
      button.querySelector(".help").textContent = item.benign ? v.help_benign : v.help_unsafe;
      button.setAttribute("aria-pressed", String(label.verdict === v.name));
    });
    $("note").value = label.note || "";
    $("previous").disabled = position === 0;
    $("next").disabled = position === items.length - 1;
    mapButtons.forEach(function (button, index) {
      const l = labelOf(items[index]);
      button.classList.toggle("done", Boolean(l && l.verdict));
      button.classList.toggle("current", index === position);
    });
    const done = labelled();
    $("progress-text").textContent = done + " of " + items.length + " labelled";
    $("meter").style.width = (100 * done / items.length) + "%";
  }

  function go(index) {
    position = Math.min(Math.max(0, index), items.length - 1);
    save();
    show();
  }

  function nextUnlabelled() {
    for (let step = 1; step <= items.length; step += 1) {
      const index = (position + step) % items.length;
      const l = labelOf(items[index]);
      if (!l || !l.verdict) { go(index); return; }
    }
    toast("Every item is labelled: download the labels");
  }

  function entry(item) {
    if (!labelOf(item)) state.labels[slot(item)] = { verdict: null, note: "" };
    return state.labels[slot(item)];
  }

  function choose(verdict) {
    const item = items[position];
    if (item.choices.indexOf(verdict) < 0) {
      toast(verdict + " is not a verdict for this sample");
      return;
    }
    const l = entry(item);
    l.verdict = verdict;
    l.at = new Date().toISOString();
    save();
    toast("Item " + (position + 1) + ": " + verdict);
    if ($("advance").checked && position < items.length - 1) go(position + 1); else show();
  }

  // --- the verdicts file ---
  function weightText(weight) {
    const text = String(weight);
    return /[.eE]/.test(text) ? text : text + ".0";
  }

  function verdictsFile() {
    const lines = [];
    items.forEach(function (item) {
      const l = labelOf(item);
      if (!l || !l.verdict) return;
      const record = Object.assign({}, item.record, {
        verdict: l.verdict,
        labeller: state.labeller,
        raw: l.note || "",
        reason: l.verdict === "invalid" ? data.invalid_reason : null,
        sample_weight: "@WEIGHT@",
      });
      lines.push(JSON.stringify(record).replace('"@WEIGHT@"', weightText(item.record.sample_weight)) + "\n");
    });
    return lines.join("");
  }

  function download() {
    const name = state.labeller.trim();
    if (!name) {
      $("labeller").classList.add("missing");
      $("labeller").focus();
      toast("Type your name first: it goes into the file");
      return;
    }
    const done = labelled();
    if (!done) { toast("Nothing labelled yet"); return; }
    const blob = new Blob([verdictsFile()], { type: "application/x-ndjson" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "") || "labeller";
    link.download = "labels-" + slug + "-" + data.key.slice(0, 8) + ".jsonl";
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(link.href); }, 10000);
    toast("Downloaded " + done + " of " + items.length + " labels");
  }

  // --- wiring ---
  $("labeller").addEventListener("input", function (event) {
    state.labeller = event.target.value;
    event.target.classList.remove("missing");
    save();
  });
  $("note").addEventListener("input", function (event) {
    entry(items[position]).note = event.target.value;
    save();
  });
  $("advance").addEventListener("change", function (event) { state.advance = event.target.checked; save(); });
  $("download").addEventListener("click", download);
  $("previous").addEventListener("click", function () { go(position - 1); });
  $("next").addEventListener("click", function () { go(position + 1); });
  $("next-unlabelled").addEventListener("click", nextUnlabelled);
  $("image").addEventListener("click", function () { $("picture").classList.toggle("zoomed"); });

  const keyed = {};
  data.verdicts.forEach(function (v) { keyed[v.key] = v.name; });
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) {
      if (event.target.id === "note" && event.key === "Enter") { event.preventDefault(); go(position + 1); }
      return;
    }
    const typing = event.target.matches && event.target.matches("input[type=text], textarea");
    if (typing) {
      if (event.key === "Escape") { event.target.blur(); }
      return;
    }
    const key = event.key;
    if (Object.prototype.hasOwnProperty.call(keyed, key)) { choose(keyed[key]); }
    else if (key === "ArrowRight" || key === "j" || key === "J") { go(position + 1); }
    else if (key === "ArrowLeft" || key === "k" || key === "K") { go(position - 1); }
    else if (key === "u" || key === "U") { nextUnlabelled(); }
    else if (key === "n" || key === "N") { $("note").focus(); }
    else if (key === "z" || key === "Z") { $("picture").classList.toggle("zoomed"); }
    else { return; }
    event.preventDefault();
  });

  show();
})();
