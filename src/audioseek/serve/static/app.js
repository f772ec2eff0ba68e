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
    mode: $("#mode"),
    viewMap: $("#view-map"),
    mapPanel: $("#map-panel"),
    map: $("#map"),
    mapTip: $("#map-tip"),
    mapStatus: $("#map-status"),
    mapLegend: $("#map-legend"),
    mapAudio: $("#map-audio"),
    mapPicked: $("#map-picked"),
    mapSimilar: $("#map-similar"),
    tagList: $("#tag-list"),
    noMatch: $("#no-match"),
    exportBtn: $("#export"),
  };
  const FILTERS = ["min_duration", "max_duration", "format", "folder", "tag"];
  const filterInputs = Object.fromEntries(FILTERS.map((name) => [name, $("#" + name)]));
  let shown = []; // the hits on screen, in order (for export)

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

    const pick = node.querySelector(".pick");
    pick.setAttribute("aria-label", `Select ${title}`);
    pick.dataset.index = String(rank - 1);
    pick.addEventListener("change", updateExport);
    if (options.compact) pick.remove();

    // why it matched: the words found in its name/folders/metadata, its audio score, tags
    const why = [];
    if (hit.matched_terms && hit.matched_terms.length) why.push(`matched “${hit.matched_terms.join("”, “")}”`);
    if (hit.audio_score != null) why.push(`audio ${hit.audio_score.toFixed(3)}`);
    if (hit.tags && hit.tags.length) why.push(`tags: ${hit.tags.join(", ")}`);
    const whyNode = node.querySelector(".why");
    if (why.length && !options.compact) whyNode.textContent = why.join(" · ");
    else whyNode.remove();
    if (hit.weak) {
      node.classList.add("weak");
      node.querySelector(".weak-mark").hidden = false;
    }

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
    const wave = node.querySelector(".wave");
    if (!options.compact) queuePeaks(hit, wave, audio, options.seek, node.querySelector(".timeline"));
    else wave.remove();
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
    shown = hits;
    els.results.replaceChildren(
      ...hits.map((hit, i) => renderHit(hit, i + 1, { seek, prefix: "r" }))
    );
    els.noMatch.hidden = !(hits.length && hits.every((h) => h.weak));
    updateExport();
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

  // ---- waveforms -------------------------------------------------------------------------
  // Peaks are fetched a few at a time and drawn on a canvas per result: the envelope, the
  // best-matching window highlighted, the playhead; a click seeks the player there.
  const peakQueue = [];
  let peaksRunning = 0;
  function queuePeaks(hit, canvas, audio, seek, timeline) {
    peakQueue.push({ hit, canvas, audio, seek, timeline });
    setTimeout(pumpPeaks, 0); // once the result is on the page (replaced results are skipped)
  }
  function pumpPeaks() {
    while (peaksRunning < 4 && peakQueue.length) {
      const job = peakQueue.shift();
      if (!job.canvas.isConnected) continue;
      peaksRunning += 1;
      api(`/api/files/${job.hit.file_id}/peaks`)
        .then((body) => {
          if (body && body.peaks && body.peaks.length && job.canvas.isConnected) wireWave(job, body.peaks);
        })
        .catch(() => {})
        .finally(() => {
          peaksRunning -= 1;
          pumpPeaks();
        });
    }
  }
  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }
  function drawWave(canvas, peaks, hit, seek, position) {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(50, Math.round(canvas.clientWidth * dpr));
    const h = Math.max(20, Math.round(canvas.clientHeight * dpr));
    if (canvas.width !== w) canvas.width = w;
    if (canvas.height !== h) canvas.height = h;
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, w, h);
    const dur = hit.duration || 0;
    if (seek && dur > 0 && hit.end > hit.start) {
      ctx.fillStyle = cssVar("--window") || "rgba(245,159,0,0.25)";
      const x0 = (hit.start / dur) * w;
      ctx.fillRect(x0, 0, Math.max(2, ((hit.end - hit.start) / dur) * w), h);
    }
    ctx.fillStyle = cssVar("--accent") || "#3b5bdb";
    const mid = h / 2;
    const n = peaks.length;
    for (let x = 0; x < w; x++) {
      const a = Math.floor((x / w) * n);
      const b = Math.max(a + 1, Math.floor(((x + 1) / w) * n));
      let lo = 0;
      let hi = 0;
      for (let i = a; i < b && i < n; i++) {
        if (peaks[i][0] < lo) lo = peaks[i][0];
        if (peaks[i][1] > hi) hi = peaks[i][1];
      }
      const top = mid - hi * mid * 0.95;
      const bottom = mid - lo * mid * 0.95;
      ctx.fillRect(x, top, 1, Math.max(1, bottom - top));
    }
    if (position != null && dur > 0) {
      ctx.fillStyle = cssVar("--text") || "#000";
      ctx.fillRect(Math.min(w - 2, (position / dur) * w), 0, 2 * dpr, h);
    }
  }
  function wireWave(job, peaks) {
    const { hit, canvas, audio, seek, timeline } = job;
    canvas.hidden = false;
    if (timeline) timeline.hidden = true;
    const dur = () => (isFinite(audio.duration) && audio.duration > 0 ? audio.duration : hit.duration || 0);
    const redraw = () => drawWave(canvas, peaks, { ...hit, duration: dur() || hit.duration }, seek, audio.seeking || !audio.paused || audio.currentTime ? audio.currentTime : null);
    redraw();
    canvas.dataset.drawn = String(peaks.length);
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", "Waveform; click to play from there");
    audio.addEventListener("timeupdate", redraw);
    canvas.addEventListener("click", (event) => {
      const d = dur();
      if (!d) return;
      const rect = canvas.getBoundingClientRect();
      const frac = Math.max(0, Math.min(1, (event.clientX - rect.left) / rect.width));
      audio.dataset.seeked = "1"; // the click decides where to start
      if (audio.readyState === 0) audio.preload = "auto";
      audio.currentTime = frac * d;
      audio.play().catch(() => {});
      redraw();
    });
  }

  // ---- export ----------------------------------------------------------------------------
  function picked() {
    return [...els.results.querySelectorAll(".pick:checked")].map((box) => shown[Number(box.dataset.index)]).filter(Boolean);
  }
  function updateExport() {
    const n = picked().length;
    els.exportBtn.disabled = n === 0;
    els.exportBtn.textContent = n ? `Download ${plural(n, "file")} (.m3u)` : "Download selection (.m3u)";
  }
  function m3u(hits) {
    const lines = ["#EXTM3U"];
    hits.forEach((h) => {
      const seconds = h.duration != null ? Math.round(h.duration) : -1;
      lines.push(`#EXTINF:${seconds},${(h.title || h.name || h.path).replace(/[\u0000-\u001f\u007f]+/g, " ")}`, h.path);
    });
    return lines.join("\n") + "\n";
  }
  els.exportBtn.addEventListener("click", () => {
    const hits = picked();
    if (!hits.length) return;
    const url = URL.createObjectURL(new Blob([m3u(hits)], { type: "audio/x-mpegurl" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = "audioseek-selection.m3u";
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  });

  // ---- filters ---------------------------------------------------------------------------
  function filterParams() {
    const out = {};
    FILTERS.forEach((name) => {
      const v = filterInputs[name].value.trim();
      if (v) out[name] = v;
    });
    return out;
  }

  // ---- search ----------------------------------------------------------------------------
  async function search(query, k) {
    setBusy(`Searching for “${query}”…`);
    const t0 = performance.now();
    const params = new URLSearchParams({ q: query, k: String(k) });
    if (els.mode.value !== "hybrid") params.set("mode", els.mode.value);
    Object.entries(filterParams()).forEach(([name, v]) => params.set(name, v));
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
      const query = new URLSearchParams(filterParams());
      const body = await api(`/api/similar${[...query].length ? "?" + query : ""}`, {
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

  // ---- map -------------------------------------------------------------------------------
  // Every file as a dot (GET /api/map: x, y in [0, 1]). Dots are painted once into an
  // ImageData buffer (a few bytes per dot, so 100k files draw in milliseconds) and blitted;
  // hover and click find the nearest dot through a grid of cells, not a scan of all dots.
  const PALETTE = ["#3b5bdb", "#e8590c", "#2b8a3e", "#c2255c", "#1098ad", "#f08c00", "#7048e8", "#5c940d", "#d6336c", "#0b7285", "#a61e4d", "#495057"];
  const OTHER = "#98a0b3";
  const PAD = 12;
  const CELL = 16;
  const map = { points: null, base: null, grid: null, colors: null, hover: null, picked: null, loading: null };

  function hexToRgb(hex) {
    const v = parseInt(hex.slice(1), 16);
    return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
  }
  function loadMap(force) {
    if (map.loading && !force) return map.loading;
    els.mapStatus.textContent = "Laying out the library…";
    els.mapStatus.classList.remove("error");
    map.loading = api("/api/map")
      .then((body) => {
        map.points = body.points;
        const counts = new Map();
        body.points.forEach((p) => counts.set(p.group, (counts.get(p.group) || 0) + 1));
        const groups = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
        map.colors = new Map(groups.map(([g], i) => [g, i < PALETTE.length - 1 ? PALETTE[i] : OTHER]));
        els.mapLegend.replaceChildren(
          ...groups.slice(0, PALETTE.length - 1).map(([g, n]) => {
            const li = document.createElement("li");
            const dot = document.createElement("span");
            dot.className = "dot";
            dot.style.background = map.colors.get(g);
            li.append(dot, document.createTextNode(`${g} (${n})`));
            return li;
          })
        );
        if (groups.length >= PALETTE.length) {
          const li = document.createElement("li");
          const dot = document.createElement("span");
          dot.className = "dot";
          dot.style.background = OTHER;
          li.append(dot, document.createTextNode(`${groups.length - PALETTE.length + 1} more groups`));
          els.mapLegend.appendChild(li);
        }
        els.tagList.replaceChildren(
          ...groups.slice(0, 200).map(([g]) => {
            const o = document.createElement("option");
            o.value = g;
            return o;
          })
        );
        paintMap();
        els.mapStatus.textContent = `${plural(body.points.length, "file")} · ${plural(groups.length, "group")}`;
      })
      .catch((err) => {
        map.loading = null;
        showError(els.mapStatus, err);
      });
    return map.loading;
  }

  function paintMap() {
    const canvas = els.map;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(100, Math.round(canvas.clientWidth * dpr));
    const h = Math.max(100, Math.round(canvas.clientHeight * dpr));
    canvas.width = w;
    canvas.height = h;
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(w, h);
    const px = new Uint32Array(image.data.buffer);
    const n = map.points.length;
    const big = Math.round((n < 2000 ? 4 : n < 20000 ? 2 : 1) * dpr); // dot radius, device px
    const pad = PAD * dpr;
    const rgba = new Map();
    map.colors.forEach((hex, g) => {
      const [r, gg, b] = hexToRgb(hex);
      rgba.set(g, (255 << 24) | (b << 16) | (gg << 8) | r); // little-endian RGBA
    });
    const grid = new Map();
    const cell = CELL * dpr;
    const screen = new Array(map.points.length);
    map.points.forEach((p, i) => {
      const x = pad + p.x * (w - 2 * pad);
      const y = pad + (1 - p.y) * (h - 2 * pad);
      screen[i] = [x, y];
      const c = rgba.get(p.group);
      const xi = Math.round(x);
      const yi = Math.round(y);
      for (let dy = -big; dy <= big; dy++) {
        for (let dx = -big; dx <= big; dx++) {
          if (dx * dx + dy * dy > big * big + 1) continue; // round dots
          const xx = xi + dx;
          const yy = yi + dy;
          if (xx >= 0 && yy >= 0 && xx < w && yy < h) px[yy * w + xx] = c;
        }
      }
      const key = Math.floor(x / cell) + "," + Math.floor(y / cell);
      if (!grid.has(key)) grid.set(key, []);
      grid.get(key).push(i);
    });
    map.base = image;
    map.grid = grid;
    map.screen = screen;
    map.dpr = dpr;
    // positions in CSS pixels of the canvas, for assistive tests and tools
    canvas.points = map.points.map((p, i) => ({ file_id: p.file_id, name: p.name, group: p.group, x: screen[i][0] / dpr, y: screen[i][1] / dpr }));
    canvas.dataset.points = String(map.points.length);
    drawMapOverlay();
  }

  function drawMapOverlay() {
    const ctx = els.map.getContext("2d");
    ctx.putImageData(map.base, 0, 0);
    [map.hover, map.picked].forEach((i, n) => {
      if (i == null) return;
      const [x, y] = map.screen[i];
      ctx.beginPath();
      ctx.arc(x, y, (n ? 7 : 5) * map.dpr, 0, 2 * Math.PI);
      ctx.lineWidth = 2 * map.dpr;
      ctx.strokeStyle = n ? cssVar("--focus") || "#f59f00" : cssVar("--text") || "#000";
      ctx.stroke();
    });
  }

  function nearest(event) {
    if (!map.grid) return null;
    const rect = els.map.getBoundingClientRect();
    const x = (event.clientX - rect.left) * (els.map.width / rect.width);
    const y = (event.clientY - rect.top) * (els.map.height / rect.height);
    const cell = CELL * map.dpr;
    const cx = Math.floor(x / cell);
    const cy = Math.floor(y / cell);
    let best = null;
    let bestD = (8 * map.dpr) ** 2;
    for (let gx = cx - 1; gx <= cx + 1; gx++) {
      for (let gy = cy - 1; gy <= cy + 1; gy++) {
        (map.grid.get(gx + "," + gy) || []).forEach((i) => {
          const [px, py] = map.screen[i];
          const d = (px - x) ** 2 + (py - y) ** 2;
          if (d < bestD) {
            bestD = d;
            best = i;
          }
        });
      }
    }
    return best;
  }

  function showTip(i) {
    map.hover = i;
    drawMapOverlay();
    if (i == null) {
      els.mapTip.hidden = true;
      els.map.style.cursor = "default";
      return;
    }
    const p = map.points[i];
    els.mapTip.textContent = `${p.name} · ${p.group}`;
    els.mapTip.hidden = false;
    const [sx, sy] = [map.screen[i][0] / map.dpr, map.screen[i][1] / map.dpr];
    const right = sx > els.map.clientWidth * 0.7; // keep the label inside the map
    els.mapTip.style.left = right ? "auto" : `${sx + 10}px`;
    els.mapTip.style.right = right ? `${els.map.clientWidth - sx + 10}px` : "auto";
    els.mapTip.style.top = `${Math.min(sy + 10, els.map.clientHeight - 28)}px`;
    els.map.style.cursor = "pointer";
  }
  els.map.addEventListener("mousemove", (event) => {
    const i = nearest(event);
    if (i !== map.hover) showTip(i);
  });
  // keyboard: arrows move to the nearest dot in that direction, Enter or Space plays it
  const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
  els.map.addEventListener("keydown", (event) => {
    if (!map.points || !map.points.length) return;
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      if (map.hover != null) pickPoint(map.hover);
      return;
    }
    const d = ARROWS[event.key];
    if (!d) return;
    event.preventDefault();
    const from = map.hover != null ? map.hover : map.picked;
    const [x0, y0] = from != null ? map.screen[from] : [els.map.width / 2, els.map.height / 2];
    let best = null;
    let bestScore = Infinity;
    for (let i = 0; i < map.screen.length; i++) {
      if (i === from) continue;
      const dx = map.screen[i][0] - x0;
      const dy = map.screen[i][1] - y0;
      const along = from == null ? 1 : dx * d[0] + dy * d[1];
      if (along <= 0) continue;
      const score = from == null ? dx * dx + dy * dy : along + 2 * Math.abs(dx * d[1] - dy * d[0]);
      if (score < bestScore) {
        bestScore = score;
        best = i;
      }
    }
    if (best != null) showTip(best);
  });
  els.map.addEventListener("blur", () => {
    if (map.base) showTip(null);
  });
  els.map.addEventListener("mouseleave", () => {
    map.hover = null;
    els.mapTip.hidden = true;
    if (map.base) drawMapOverlay();
  });
  els.map.addEventListener("click", (event) => {
    const i = nearest(event);
    if (i != null) pickPoint(i);
  });
  function pickPoint(i) {
    map.picked = i;
    drawMapOverlay();
    const p = map.points[i];
    els.mapPicked.textContent = `${p.name} · ${p.group}`;
    els.mapAudio.src = `/api/audio/${p.file_id}`;
    els.mapAudio.setAttribute("aria-label", `Play ${p.name}`);
    els.mapAudio.play().catch(() => {});
    els.mapSimilar.disabled = false;
    els.mapSimilar.setAttribute("aria-label", `Find files similar to ${p.name}`);
  }
  els.mapAudio.addEventListener("play", () => {
    document.querySelectorAll("audio").forEach((other) => {
      if (other !== els.mapAudio && !other.paused) other.pause();
    });
  });
  els.mapSimilar.addEventListener("click", () => {
    if (map.picked == null) return;
    const p = map.points[map.picked];
    els.mapAudio.pause();
    moreLikeThis({ file_id: p.file_id, name: p.name });
  });
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      if (map.points && !els.mapPanel.hidden) paintMap();
    }, 150);
  });

  // ---- views -----------------------------------------------------------------------------
  function showView(name) {
    const dupes = name === "dupes";
    els.searchView.hidden = dupes;
    els.dupesView.hidden = !dupes;
    els.viewSearch.setAttribute("aria-pressed", String(!dupes));
    els.viewDupes.setAttribute("aria-pressed", String(dupes));
    if (dupes) els.viewMap.setAttribute("aria-pressed", "false");
    else els.viewMap.setAttribute("aria-pressed", String(!els.mapPanel.hidden));
  }
  els.viewSearch.addEventListener("click", () => {
    showView("search");
    els.q.focus();
  });
  els.viewMap.addEventListener("click", () => {
    const open = els.mapPanel.hidden;
    showView("search");
    els.mapPanel.hidden = !open;
    els.viewMap.setAttribute("aria-pressed", String(open));
    if (open) {
      if (!map.points) loadMap();
      else {
        // the index may have changed meanwhile (serve --watch): lay it out again if so
        api("/api/info")
          .then((info) => {
            if (info.files !== map.points.length) loadMap(true);
          })
          .catch(() => {});
      }
      $("#map-heading").focus();
    }
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
  if (["hybrid", "audio", "text"].includes(initial.get("mode"))) els.mode.value = initial.get("mode");
  FILTERS.forEach((name) => {
    if (initial.get(name)) filterInputs[name].value = initial.get(name);
  });
  if (initial.get("q")) {
    els.q.value = initial.get("q");
    search(initial.get("q").trim(), parseInt(els.k.value, 10) || 10);
  }
  els.q.focus();
})();
