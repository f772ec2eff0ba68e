// audioseek page: vanilla JS, no build step, no external assets.
"use strict";

(function () {
  const $ = (sel) => document.querySelector(sel);
  const els = {
    form: $("#search-form"),
    q: $("#q"),
    k: $("#k"),
    status: $("#status"),
    results: $("#results"),
    resultsHeading: $("#results-heading"),
    empty: $("#empty"),
    library: $("#library"),
    viewSearch: $("#view-search"),
    viewDupes: $("#view-dupes"),
    searchView: $("#search-view"),
    dupesView: $("#dupes-view"),
    dupesForm: $("#dupes-form"),
    threshold: $("#threshold"),
    dupesStatus: $("#dupes-status"),
    dupes: $("#dupes"),
    dupesHeading: $("#dupes-heading"),
    template: $("#hit-template"),
  };

  // ---- formatting ------------------------------------------------------------------------
  function clock(seconds) {
    if (seconds == null || !isFinite(seconds)) return "–";
    const s = Math.max(0, seconds);
    const m = Math.floor(s / 60);
    const rest = s - m * 60;
    const whole = Math.floor(rest);
    const tenth = Math.floor((rest - whole) * 10);
    return `${m}:${String(whole).padStart(2, "0")}${tenth ? "." + tenth : ""}`;
  }
  function plural(n, word) {
    return `${n} ${word}${n === 1 ? "" : "s"}`;
  }
  function describeFormat(hit) {
    const parts = [];
    if (hit.format) parts.push(hit.format.toUpperCase());
    if (hit.sample_rate) parts.push(`${(hit.sample_rate / 1000).toFixed(hit.sample_rate % 1000 ? 1 : 0)} kHz`);
    return parts.join(" ");
  }

  // ---- API -------------------------------------------------------------------------------
  async function api(url, options) {
    let response;
    try {
      response = await fetch(url, options);
    } catch (err) {
      throw new Error("the server did not answer (" + err.message + ")");
    }
    let body = null;
    try {
      body = await response.json();
    } catch (err) {
      body = null;
    }
    if (!response.ok) {
      const message = body && body.error ? body.error : `HTTP ${response.status}`;
      throw new Error(message);
    }
    return body;
  }

  // ---- players ---------------------------------------------------------------------------
  // Start each player at its best-matching window; only one plays at a time.
  function wirePlayer(audio, start) {
    audio.dataset.start = String(start || 0);
    audio.dataset.seeked = "";
    audio.addEventListener("play", () => {
      document.querySelectorAll("audio").forEach((other) => {
        if (other !== audio && !other.paused) other.pause();
      });
      if (!audio.dataset.seeked) {
        audio.dataset.seeked = "1";
        const t = parseFloat(audio.dataset.start) || 0;
        if (t > 0) audio.currentTime = t;
      }
    });
  }

  function renderHit(hit, rank, options) {
    const node = els.template.content.firstElementChild.cloneNode(true);
    const title = hit.title || hit.name || hit.path;
    const headingId = `hit-${options.prefix}-${rank}`;
    node.querySelector(".rank").textContent = rank;
    const name = node.querySelector(".name");
    name.textContent = title;
    name.id = headingId;
    node.setAttribute("aria-labelledby", headingId);
    if (hit.title && hit.name) name.title = hit.name;

    const meta = [];
    if (hit.artist) meta.push(hit.artist);
    if (hit.album) meta.push(hit.album);
    if (hit.genre) meta.push(hit.genre);
    if (hit.duration != null) meta.push(clock(hit.duration));
    const fmt = describeFormat(hit);
    if (fmt) meta.push(fmt);
    node.querySelector(".meta").textContent = meta.join(" · ");
    node.querySelector(".path").textContent = hit.path;

    const score = node.querySelector(".score-value");
    score.textContent = hit.score.toFixed(3);
    const fill = Math.max(0, Math.min(1, hit.score)); // cosine similarity; <= 0 is no match
    node.querySelector(".score-fill").style.width = `${(fill * 100).toFixed(1)}%`;

    const audio = node.querySelector("audio");
    audio.src = hit.audio_url;
    audio.setAttribute("aria-label", `Play ${title}`);
    wirePlayer(audio, options.seek ? hit.start : 0);

    const label = node.querySelector(".window-label");
    const windowBar = node.querySelector(".window");
    if (options.seek && hit.start != null && hit.end != null) {
      label.textContent = `Best match ${clock(hit.start)}–${clock(hit.end)} · score ${hit.score.toFixed(3)}`;
      if (hit.duration) {
        const left = Math.max(0, Math.min(1, hit.start / hit.duration));
        const width = Math.max(0.01, Math.min(1 - left, (hit.end - hit.start) / hit.duration));
        windowBar.style.left = `${(left * 100).toFixed(2)}%`;
        windowBar.style.width = `${(width * 100).toFixed(2)}%`;
      }
    } else if (options.compact) {
      label.remove();
      node.querySelector(".timeline").remove();
      node.querySelector(".hit-score").remove();
    } else {
      label.textContent = `Similarity ${hit.score.toFixed(3)}`;
      node.querySelector(".timeline").hidden = true;
    }

    const more = node.querySelector(".more");
    if (options.more === false) {
      more.remove();
    } else {
      more.setAttribute("aria-label", `More like ${title}`);
      more.addEventListener("click", () => moreLikeThis(hit));
    }
    return node;
  }

  function showHits(hits, heading, statusText, seek) {
    els.results.replaceChildren(
      ...hits.map((hit, i) => renderHit(hit, i + 1, { seek, prefix: "r" }))
    );
    els.resultsHeading.textContent = heading;
    els.empty.hidden = hits.length > 0;
    if (!hits.length) els.empty.textContent = "Nothing found.";
    els.status.textContent = statusText;
    els.results.setAttribute("aria-busy", "false");
  }

  function setBusy(text) {
    els.status.textContent = text;
    els.status.classList.remove("error");
    els.results.setAttribute("aria-busy", "true");
  }

  function showError(target, err) {
    target.textContent = `Error: ${err.message}`;
    target.classList.add("error");
    els.results.setAttribute("aria-busy", "false");
  }

  // ---- search ----------------------------------------------------------------------------
  async function search(query, k) {
    setBusy(`Searching for “${query}”…`);
    const t0 = performance.now();
    const params = new URLSearchParams({ q: query, k: String(k) });
    try {
      const body = await api(`/api/search?${params}`);
      const ms = Math.round(performance.now() - t0);
      showHits(
        body.hits,
        `Results for “${body.query}”`,
        `${plural(body.hits.length, "result")} in ${ms} ms`,
        true
      );
      history.replaceState(null, "", `?${params}`);
    } catch (err) {
      showError(els.status, err);
    }
  }

  async function moreLikeThis(hit) {
    const label = hit.title || hit.name;
    setBusy(`Finding sounds like “${label}”…`);
    showView("search");
    const t0 = performance.now();
    try {
      const body = await api("/api/similar", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ file_id: hit.file_id, k: parseInt(els.k.value, 10) || 10 }),
      });
      const ms = Math.round(performance.now() - t0);
      showHits(
        body.hits,
        `More like “${label}”`,
        `${plural(body.hits.length, "similar file")} in ${ms} ms`,
        false
      );
      els.resultsHeading.focus();
    } catch (err) {
      showError(els.status, err);
    }
  }

  els.form.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = els.q.value.trim();
    const k = parseInt(els.k.value, 10);
    if (!query) {
      els.status.textContent = "Type a description first.";
      els.status.classList.add("error");
      els.q.focus();
      return;
    }
    if (!(k >= 1 && k <= 1000)) {
      els.status.textContent = "Results must be a number from 1 to 1000.";
      els.status.classList.add("error");
      els.k.focus();
      return;
    }
    search(query, k);
  });

  // ---- duplicates ------------------------------------------------------------------------
  els.dupesForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const raw = els.threshold.value.trim();
    const params = new URLSearchParams();
    if (raw) params.set("threshold", raw);
    els.dupesStatus.textContent = "Comparing every file with every other…";
    els.dupesStatus.classList.remove("error");
    try {
      const body = await api(`/api/duplicates${raw ? "?" + params : ""}`);
      els.dupes.replaceChildren(
        ...body.groups.map((group, gi) => {
          const li = document.createElement("li");
          li.className = "group";
          const h = document.createElement("h3");
          h.id = `group-${gi + 1}`;
          const sim = group.score != null ? ` · similarity ≥ ${group.score.toFixed(3)}` : "";
          h.textContent = `Group ${gi + 1}: ${plural(group.files.length, "file")}${sim}`;
          li.setAttribute("aria-labelledby", h.id);
          const ol = document.createElement("ol");
          ol.className = "results compact";
          // a group's files are IndexedFiles (no score of their own): show the group's
          group.files.forEach((file, i) =>
            ol.appendChild(
              renderHit({ ...file, score: group.score }, i + 1, {
                seek: false,
                compact: true,
                prefix: `g${gi}`,
              })
            )
          );
          li.append(h, ol);
          return li;
        })
      );
      const n = body.groups.length;
      els.dupesStatus.textContent = n
        ? `${plural(n, "group")} of duplicates`
        : "No duplicates found.";
    } catch (err) {
      showError(els.dupesStatus, err);
    }
  });

  // ---- views -----------------------------------------------------------------------------
  function showView(name) {
    const dupes = name === "dupes";
    els.searchView.hidden = dupes;
    els.dupesView.hidden = !dupes;
    els.viewSearch.setAttribute("aria-pressed", String(!dupes));
    els.viewDupes.setAttribute("aria-pressed", String(dupes));
  }
  els.viewSearch.addEventListener("click", () => {
    showView("search");
    els.q.focus();
  });
  els.viewDupes.addEventListener("click", () => {
    showView("dupes");
    els.threshold.focus();
  });

  // ---- start -----------------------------------------------------------------------------
  api("/api/info")
    .then((info) => {
      const parts = [];
      // IndexInfo: files, windows, model_id (see /openapi.json)
      if (info.files != null) parts.push(plural(info.files, "file"));
      if (info.windows != null) parts.push(plural(info.windows, "window"));
      const model = info.model_id ?? info.model;
      if (model && typeof model === "string") parts.push(model);
      els.library.textContent = parts.join(" · ");
    })
    .catch(() => {
      els.library.textContent = "";
    });

  const initial = new URLSearchParams(location.search);
  if (initial.get("k")) els.k.value = initial.get("k");
  if (initial.get("q")) {
    els.q.value = initial.get("q");
    search(initial.get("q").trim(), parseInt(els.k.value, 10) || 10);
  }
  els.q.focus();
})();
