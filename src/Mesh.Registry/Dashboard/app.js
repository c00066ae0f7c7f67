// MeshLib registry dashboard: plain JavaScript, no build step. It polls GET /v1/dashboard with the admin token,
// draws the service graph, lists instances, shows, diffs and edits policies, and follows and steers the chosen service's
// rollout (automatic canary analysis) through the registry's API.
// The token arrives in the URL fragment (never sent to a server), moves to this tab's sessionStorage, and the
// fragment is removed from the address bar. Every value from the server is written as text, never as markup.
'use strict';

(() => {
  const TOKEN_KEY = 'mesh-admin-token';
  const POLL_MS = 1500;
  const $ = (id) => document.getElementById(id);
  const SVG = 'http://www.w3.org/2000/svg';

  let pollTimer = null;
  let selectedService = null;
  let editorLoadedFor = null; // "service@version" shown in the editor, so polling does not overwrite edits
  let history = [];
  let diffFrom = null;
  let diffTo = null;
  let policyDocument = null; // the chosen service's policy as loaded, to map the rollout's subsets to versions

  // The rollout of the chosen service and the chart's points. The registry answers a rollout's state and its decisions
  // (one judgement per step window); the chart's live lines are the canary's and the stable subset's numbers from the
  // dashboard's traffic edges, one point per poll, kept while the page is open.
  const SERIES_MAX = 400;
  let rollout = null;
  let rolloutKey = null;
  let series = [];

  function takeTokenFromFragment() {
    const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (match) {
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
      clearFragment();
    }
  }

  function clearFragment() {
    window.history.replaceState(null, '', location.pathname + location.search);
  }

  const token = () => sessionStorage.getItem(TOKEN_KEY);

  async function api(method, path, body, extraHeaders) {
    const headers = { Authorization: 'Bearer ' + token(), ...(extraHeaders || {}) };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const response = await fetch(path, { method, headers, body, cache: 'no-store', credentials: 'omit' });
    let json = null;
    const text = await response.text();
    if (text) {
      try { json = JSON.parse(text); } catch { json = { title: text }; }
    }
    return { status: response.status, ok: response.ok, json };
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null) node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c === null || c === undefined ? '' : String(c)));
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const fmt = (n, digits = 1) => (n === undefined || n === null ? '–' : Number(n).toFixed(digits));
  const grade = (success) => (success === undefined || success === null ? 'ok' : success >= 99 ? 'ok' : success >= 90 ? 'warn' : 'bad');

  function setStatus(text, error) {
    const s = $('status');
    s.textContent = text;
    s.className = error ? 'status error' : 'status';
  }

  function showLogin() {
    $('login').hidden = false;
    $('main').hidden = true;
    if (pollTimer) clearTimeout(pollTimer);
  }

  async function poll() {
    pollTimer = null;
    try {
      const r = await api('GET', '/v1/dashboard');
      if (r.status === 401 || r.status === 403) {
        setStatus(r.status === 401 ? 'the admin token is not valid' : 'this token may not read the dashboard', true);
        sessionStorage.removeItem(TOKEN_KEY);
        showLogin();
        return;
      }
      if (!r.ok) throw new Error((r.json && r.json.title) || ('HTTP ' + r.status));
      $('login').hidden = true;
      $('main').hidden = false;
      render(r.json);
      await pollRollout(r.json);
      setStatus('live · ' + new Date(r.json.now).toLocaleTimeString(), false);
    } catch (e) {
      setStatus('registry unreachable: ' + e.message, true);
    }
    pollTimer = setTimeout(poll, POLL_MS);
  }

  function render(d) {
    renderEdges(d.edges);
    renderGraph(d.services, d.edges);
    renderInstances(d.services, new Date(d.now));
    renderServiceChoice(d.services);
  }

  function renderEdges(edges) {
    const body = $('edges').tBodies[0];
    body.replaceChildren(...edges.map((e) => el('tr', { 'data-edge': `${e.source}->${e.destination}:${e.destinationVersion || ''}`, 'data-rps': e.requestsPerSecond },
      el('td', {}, e.source), el('td', {}, e.destination), el('td', {}, e.destinationVersion || '–'),
      el('td', { class: 'num' }, fmt(e.requestsPerSecond)),
      el('td', { class: 'num ' + grade(e.successPercent) }, e.successPercent === undefined ? '–' : fmt(e.successPercent) + '%'),
      el('td', { class: 'num' }, fmt(e.p50Ms)), el('td', { class: 'num' }, fmt(e.p99Ms)))));
  }

  // Services in columns by their distance from the callers nobody calls; one edge per service pair, versions summed.
  function renderGraph(services, edges) {
    const pairs = new Map();
    for (const e of edges) {
      const key = e.source + '\u0000' + e.destination;
      const p = pairs.get(key) || { source: e.source, destination: e.destination, rps: 0, requests: 0, failed: 0, p99: null };
      p.rps += e.requestsPerSecond;
      if (e.successPercent !== undefined && e.successPercent !== null) {
        p.requests += e.requestsPerSecond;
        p.failed += e.requestsPerSecond * (100 - e.successPercent) / 100;
      }
      if (e.p99Ms !== undefined && e.p99Ms !== null) p.p99 = Math.max(p.p99 || 0, e.p99Ms);
      pairs.set(key, p);
    }
    const names = new Set(services.map((s) => s.name));
    for (const p of pairs.values()) { names.add(p.source); names.add(p.destination); }
    const incoming = new Map([...names].map((n) => [n, 0]));
    for (const p of pairs.values()) incoming.set(p.destination, incoming.get(p.destination) + 1);
    const depth = new Map();
    const queue = [...names].filter((n) => incoming.get(n) === 0).sort();
    queue.forEach((n) => depth.set(n, 0));
    for (let i = 0; i < queue.length; i++) {
      for (const p of pairs.values()) {
        if (p.source === queue[i] && !depth.has(p.destination)) {
          depth.set(p.destination, depth.get(queue[i]) + 1);
          queue.push(p.destination);
        }
      }
    }
    for (const n of [...names].sort()) if (!depth.has(n)) depth.set(n, 0);
    const columns = [];
    for (const [n, d] of depth) (columns[d] = columns[d] || []).push(n);
    columns.forEach((c) => c.sort());

    const graph = $('graph');
    const width = Math.max(graph.clientWidth || 900, 600);
    const height = Math.max(360, 90 * Math.max(1, ...columns.map((c) => c.length)));
    graph.setAttribute('viewBox', `0 0 ${width} ${height}`);
    graph.style.height = height + 'px';
    const pos = new Map();
    columns.forEach((column, x) => column.forEach((n, y) => pos.set(n, {
      x: (x + 0.5) * width / columns.length,
      y: (y + 0.5) * height / column.length,
    })));

    const children = [];
    for (const p of pairs.values()) {
      const a = pos.get(p.source), b = pos.get(p.destination);
      const success = p.requests > 0 ? 100 * (1 - p.failed / p.requests) : null;
      const g = svg('g', { class: 'edge ' + grade(success), 'data-edge': `${p.source}->${p.destination}`, 'data-rps': p.rps.toFixed(2) });
      const mx = (a.x + b.x) / 2, my = (a.y + b.y) / 2 - 14;
      g.append(svg('path', { d: `M ${a.x + 55} ${a.y} Q ${mx} ${my} ${b.x - 55} ${b.y}`, 'marker-end': 'url(#arrow)' }));
      g.append(svg('text', { x: mx - 60, y: my - 4 },
        `${fmt(p.rps)} req/s · ${success === null ? '–' : fmt(success) + '%'} · p99 ${fmt(p.p99)} ms`));
      children.push(g);
    }
    for (const [n, p] of pos) {
      const g = svg('g', { class: 'node', 'data-service': n });
      g.append(svg('rect', { x: p.x - 55, y: p.y - 16, width: 110, height: 32, rx: 6 }));
      g.append(svg('text', { x: p.x, y: p.y }, n));
      children.push(g);
    }
    const defs = svg('defs');
    const marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 6, markerHeight: 6, orient: 'auto' });
    marker.append(svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: '#667' }));
    defs.append(marker);
    graph.replaceChildren(defs, ...children);
  }

  function renderInstances(services, now) {
    const rows = [];
    for (const s of services) {
      const instances = s.instances.length ? s.instances : [null];
      for (const i of instances) {
        const expires = i && i.certificateExpiresAt ? new Date(i.certificateExpiresAt) : null;
        const days = expires ? (expires - now) / 86400000 : null;
        rows.push(el('tr', { 'data-service': s.name },
          el('td', {}, s.name), el('td', { class: 'num' }, s.policyVersion ? 'v' + s.policyVersion : '–'),
          el('td', {}, i ? i.id : '(no instances)'), el('td', {}, i ? i.address : ''), el('td', {}, i ? i.version || '–' : ''),
          el('td', {}, i ? i.zone || '–' : ''), el('td', { class: i && i.health !== 'healthy' ? 'warn' : 'ok' }, i ? i.health : ''),
          el('td', { class: 'num' }, i ? fmt(i.leaseAgeSeconds) + ' s' : ''),
          el('td', { class: days !== null && days < 1 ? 'bad' : '' }, expires ? expires.toISOString().replace('.000Z', 'Z') : '–')));
      }
    }
    $('instances').tBodies[0].replaceChildren(...rows);
  }

  function renderServiceChoice(services) {
    const select = $('policy-service');
    const names = services.map((s) => s.name);
    const current = [...select.options].map((o) => o.value);
    if (names.join('\u0000') !== current.join('\u0000')) {
      select.replaceChildren(...names.map((n) => el('option', { value: n }, n)));
      if (selectedService && names.includes(selectedService)) select.value = selectedService;
    }
    if (!selectedService && names.length) {
      selectedService = names.includes('reviews') ? 'reviews' : names[0];
      select.value = selectedService;
      loadPolicy();
    }
    const service = services.find((s) => s.name === selectedService);
    if (service && editorLoadedFor !== null && editorLoadedFor !== `${service.name}@${service.policyVersion}` && !editorDirty) {
      loadPolicy();
    }
  }

  let editorDirty = false;
  // The policy version the editor was loaded from: applying replaces that version only (If-Match), so an edit made
  // while someone else wrote a newer version is refused (412) instead of silently undoing theirs.
  let editorVersion = 0;

  async function loadPolicy() {
    const service = selectedService;
    const [policy, hist] = await Promise.all([
      api('GET', `/v1/policies/${encodeURIComponent(service)}`),
      api('GET', `/v1/policies/${encodeURIComponent(service)}/history?limit=50`),
    ]);
    if (service !== selectedService) return;
    const doc = policy.json && policy.json.document;
    policyDocument = doc || null;
    $('policy-editor').value = doc ? JSON.stringify(doc, null, 2) : '{\n}';
    $('policy-version').textContent = policy.json && policy.json.version ? `version ${policy.json.version}` : 'no policy in the registry';
    editorVersion = (policy.json && policy.json.version) || 0;
    editorLoadedFor = `${service}@${editorVersion}`;
    editorDirty = false;
    renderWeights();
    history = (hist.json && hist.json.versions) || [];
    diffTo = history.length ? history[0].version : null;
    diffFrom = history.length > 1 ? history[1].version : null;
    renderHistory();
  }

  // Number inputs for every route's destination weights, kept in step with the JSON in the editor.
  function renderWeights() {
    const box = $('weights');
    let doc;
    try { doc = JSON.parse($('policy-editor').value); } catch { box.replaceChildren(); return; }
    const routes = (doc && Array.isArray(doc.Routes)) ? doc.Routes : [];
    box.replaceChildren(...routes.map((route, r) => {
      const destinations = Array.isArray(route.Destinations) ? route.Destinations : [];
      if (!destinations.length) return el('span');
      const div = el('div', { class: 'route' }, `route ${route.Name || r}: `);
      destinations.forEach((d, i) => {
        const input = el('input', { type: 'number', min: 0, max: 100, value: d.Weight, 'data-route': r, 'data-destination': i, 'aria-label': `weight of ${d.Subset}` });
        input.addEventListener('input', () => {
          let current;
          try { current = JSON.parse($('policy-editor').value); } catch { return; }
          current.Routes[r].Destinations[i].Weight = Number(input.value);
          $('policy-editor').value = JSON.stringify(current, null, 2);
          editorDirty = true;
        });
        div.append(el('label', {}, d.Subset || '(all)', input));
      });
      return div;
    }));
  }

  function showErrors(json) {
    const list = $('policy-errors');
    const items = [];
    if (json && json.errors) {
      for (const [path, messages] of Object.entries(json.errors)) {
        for (const m of messages) items.push(el('li', {}, el('code', {}, path), ': ' + m));
      }
    } else if (json && (json.detail || json.title)) {
      items.push(el('li', {}, json.detail || json.title));
    }
    list.replaceChildren(...items);
  }

  async function validate() {
    const body = $('policy-editor').value;
    try { JSON.parse(body); } catch (e) {
      showErrors({ errors: { document: ['not JSON: ' + e.message] } });
      return false;
    }
    const r = await api('POST', `/v1/policies/${encodeURIComponent(selectedService)}/validate`, body);
    showErrors(r.ok ? null : r.json);
    $('policy-result').textContent = r.ok ? 'valid' : 'invalid: nothing was changed';
    $('policy-result').className = r.ok ? 'ok' : 'bad';
    return r.ok;
  }

  async function apply() {
    if (!(await validate())) return;
    const r = await api('PUT', `/v1/policies/${encodeURIComponent(selectedService)}`, $('policy-editor').value,
      { 'If-Match': `"${editorVersion}"` });
    showErrors(r.ok ? null : r.json);
    $('policy-result').textContent = r.ok ? `applied as version ${r.json.version}`
      : r.status === 412 ? 'refused: the policy changed since it was loaded; nothing was changed (reload it and edit again)'
      : 'refused: nothing was changed';
    $('policy-result').className = r.ok ? 'ok' : 'bad';
    if (r.ok) {
      editorDirty = false;
      await loadPolicy();
    }
  }

  function renderHistory() {
    const body = $('history').tBodies[0];
    body.replaceChildren(...history.map((v) => {
      const from = el('input', { type: 'radio', name: 'diff-from', value: v.version, 'aria-label': `diff from ${v.version}` });
      const to = el('input', { type: 'radio', name: 'diff-to', value: v.version, 'aria-label': `diff to ${v.version}` });
      from.checked = v.version === diffFrom;
      to.checked = v.version === diffTo;
      from.addEventListener('change', () => { diffFrom = v.version; renderDiff(); });
      to.addEventListener('change', () => { diffTo = v.version; renderDiff(); });
      const note = v.document === undefined || v.document === null ? 'deleted' : v.rollbackOf ? `rollback to ${v.rollbackOf}` : '';
      return el('tr', { 'data-version': v.version }, el('td', { class: 'num' }, v.version), el('td', {}, new Date(v.createdAt).toLocaleString()),
        el('td', {}, note), el('td', {}, from), el('td', {}, to));
    }));
    renderDiff();
  }

  // A line diff (longest common subsequence) of the two versions' pretty-printed JSON.
  function renderDiff() {
    const pre = $('diff');
    const a = history.find((v) => v.version === diffFrom);
    const b = history.find((v) => v.version === diffTo);
    if (!a || !b) { pre.replaceChildren(document.createTextNode(history.length > 1 ? 'pick two versions' : 'one version: nothing to compare')); return; }
    const x = a.document ? JSON.stringify(a.document, null, 2).split('\n') : [];
    const y = b.document ? JSON.stringify(b.document, null, 2).split('\n') : [];
    const n = x.length, m = y.length;
    const lcs = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0));
    for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    const out = [el('span', { class: 'same' }, `--- version ${a.version}\n`), el('span', { class: 'same' }, `+++ version ${b.version}\n`)];
    let i = 0, j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && x[i] === y[j]) { out.push(el('span', { class: 'same' }, '  ' + x[i] + '\n')); i++; j++; }
      else if (j < m && (i === n || lcs[i][j + 1] >= lcs[i + 1][j])) { out.push(el('span', { class: 'add' }, '+ ' + y[j] + '\n')); j++; }
      else { out.push(el('span', { class: 'del' }, '- ' + x[i] + '\n')); i++; }
    }
    pre.replaceChildren(...out);
  }

  // A field of the registry's rollout answer, which spells its names as the API's documents do (PascalCase); the
  // camelCase spelling is read as well.
  const field = (o, name) => (o === undefined || o === null ? undefined
    : o[name] !== undefined ? o[name] : o[name.charAt(0).toLowerCase() + name.slice(1)]);

  // The version label a subset selects (the edges are per version); a subset without one is taken by its name.
  function subsetVersion(subset) {
    const subsets = policyDocument && (policyDocument.Subsets || policyDocument.subsets);
    const labels = subsets && subsets[subset];
    return (labels && (labels.version || labels.Version)) || subset;
  }

  async function pollRollout(dashboard) {
    const service = selectedService;
    if (!service) return;
    const r = await api('GET', `/v1/rollouts/${encodeURIComponent(service)}`);
    if (service !== selectedService) return;
    if (r.status === 404) {
      rollout = null;
      renderRollout();
      return;
    }
    if (!r.ok) {
      $('rollout-summary').textContent = 'rollout unreadable: ' + ((r.json && (r.json.detail || r.json.title)) || ('HTTP ' + r.status));
      return;
    }
    rollout = r.json;
    const key = [service, spec('Route'), spec('Stable'), spec('Canary'), field(rollout, 'StartedAt') || ''].join('\u0000');
    if (key !== rolloutKey) { rolloutKey = key; series = []; }
    if (isActive(field(rollout, 'State'))) {
      series.push(samplePoint(dashboard, service));
      if (series.length > SERIES_MAX) series.splice(0, series.length - SERIES_MAX);
    }
    renderRollout();
  }

  // What the rollout was asked for (its spec), read from the answer's Spec or, failing that, from the answer itself.
  const spec = (name) => field(field(rollout, 'Spec') || rollout, name);
  const canaryVersion = () => field(rollout, 'CanaryVersion') || subsetVersion(spec('Canary'));
  const stableVersion = () => field(rollout, 'StableVersion') || subsetVersion(spec('Stable'));

  const isActive = (state) => state === 'Progressing' || state === 'Paused';

  // One point of the live chart: the canary's and the stable subset's numbers summed over every caller's edge to the
  // service (success weighted by requests, p99 the worst), as the dashboard's graph sums them.
  function samplePoint(dashboard, service) {
    const sum = (version) => {
      let rps = 0, good = 0, weighted = 0, p99 = null;
      for (const e of dashboard.edges) {
        if (e.destination !== service || e.destinationVersion !== version) continue;
        rps += e.requestsPerSecond;
        if (e.successPercent !== undefined && e.successPercent !== null) {
          weighted += e.requestsPerSecond;
          good += e.requestsPerSecond * e.successPercent;
        }
        if (e.p99Ms !== undefined && e.p99Ms !== null) p99 = Math.max(p99 || 0, e.p99Ms);
      }
      return { rps, success: weighted > 0 ? good / weighted : null, p99 };
    };
    return {
      t: new Date(dashboard.now).getTime(),
      canary: sum(canaryVersion()),
      stable: sum(stableVersion()),
    };
  }

  function renderRollout() {
    const summary = $('rollout-summary');
    const buttons = ['pause', 'resume', 'abort', 'promote'].map((a) => $('rollout-' + a));
    if (!rollout) {
      summary.textContent = selectedService ? `no rollout of ${selectedService}` : 'no rollout';
      summary.removeAttribute('data-state');
      buttons.forEach((b) => { b.disabled = true; });
      $('decisions').tBodies[0].replaceChildren();
      $('rollout-chart').replaceChildren();
      renderWindow(null);
      return;
    }
    const state = field(rollout, 'State');
    const steps = spec('Steps') || [];
    const step = field(rollout, 'Step');
    const weight = field(rollout, 'Weight');
    summary.setAttribute('data-state', state);
    summary.setAttribute('data-step', step);
    summary.setAttribute('data-weight', weight);
    const stepText = steps.length ? `step ${step} of ${steps.length}` : `step ${step}`;
    const decisions = field(rollout, 'Decisions') || [];
    const last = decisions.length ? decisions[decisions.length - 1] : null;
    summary.replaceChildren(
      el('strong', { class: 'rollout-state ' + stateGrade(state) }, state), ` · ${selectedService} route ${spec('Route') || '–'}: `,
      `${spec('Canary')} (canary) ${fmt(weight, 0)}% · ${spec('Stable')} (stable) ${fmt(100 - weight, 0)}% · ${stepText}`,
      steps.length ? ` of [${steps.join(', ')}]` : '', last && field(last, 'Reason') ? ` · last: ${field(last, 'Reason')}` : '');
    $('rollout-pause').disabled = state !== 'Progressing';
    $('rollout-resume').disabled = state !== 'Paused';
    $('rollout-abort').disabled = !isActive(state);
    $('rollout-promote').disabled = !isActive(state);
    renderWindow(field(rollout, 'Window'));
    renderDecisions(decisions);
    renderChart(decisions);
  }

  const stateGrade = (state) => (state === 'Succeeded' ? 'ok' : state === 'RolledBack' || state === 'Aborted' ? 'bad' : state === 'Paused' ? 'warn' : '');
  const verdictGrade = (verdict) => (verdict === 'Passed' || verdict === 'Promoted' ? 'ok'
    : verdict === 'Failed' || verdict === 'Aborted' ? 'bad' : verdict === 'Waiting' || verdict === 'Paused' ? 'warn' : 'info');

  // The numbers of one side of a decision: requests, success (a rate in percent) and p99.
  function sideCells(side) {
    const success = field(side, 'SuccessRate') ?? field(side, 'SuccessPercent');
    return [
      el('td', { class: 'num' }, field(side, 'Requests') ?? '–'),
      el('td', { class: 'num ' + grade(success) }, success === undefined || success === null ? '–' : fmt(success, 2) + '%'),
      el('td', { class: 'num' }, fmt(field(side, 'P99Ms'))),
    ];
  }

  // The running step's numbers so far, as the registry that drives the rollout counts them for its verdict; only that
  // registry answers them, and only while a step's window is open.
  function renderWindow(window) {
    const box = $('rollout-window');
    if (!window) {
      box.replaceChildren();
      box.removeAttribute('data-canary-requests');
      return;
    }
    const side = (name, traffic) => {
      const success = field(traffic, 'SuccessRate');
      return `${name} ${field(traffic, 'Requests') ?? 0} req, success ${success === undefined || success === null ? '–' : fmt(success, 2) + '%'}, ` +
        `p99 ${fmt(field(traffic, 'P99Ms'))} ms`;
    };
    const since = new Date(field(window, 'Since'));
    box.setAttribute('data-canary-requests', field(field(window, 'Canary'), 'Requests') ?? 0);
    box.replaceChildren(`this step so far (since ${since.toLocaleTimeString()}): ${side('canary', field(window, 'Canary'))} · ` +
      side('stable', field(window, 'Stable')));
  }

  function renderDecisions(decisions) {
    const rows = [...decisions].reverse().map((d) => el('tr', { 'data-verdict': field(d, 'Verdict'), 'data-step': field(d, 'Step') },
      el('td', {}, new Date(field(d, 'At')).toLocaleTimeString()), el('td', { class: 'num' }, field(d, 'Step')),
      el('td', { class: 'num' }, fmt(field(d, 'Weight'), 0) + '%'), ...sideCells(field(d, 'Canary')), ...sideCells(field(d, 'Stable')),
      el('td', { class: verdictGrade(field(d, 'Verdict')) }, field(d, 'Verdict')), el('td', {}, field(d, 'Reason') || '')));
    $('decisions').tBodies[0].replaceChildren(...rows);
  }

  // Two panels sharing the time axis: success rate (%) above, p99 (ms) below; canary and stable as lines from the
  // polled traffic, each decision as a mark on both panels at the end of the window it judged.
  function renderChart(decisions) {
    const chart = $('rollout-chart');
    const width = Math.max(chart.clientWidth || 900, 600);
    const panel = 150, gap = 36, left = 56, right = 16, top = 24;
    const height = top + 2 * panel + gap + 28;
    chart.setAttribute('viewBox', `0 0 ${width} ${height}`);
    chart.style.height = height + 'px';

    const marks = decisions.map((d) => ({ t: new Date(field(d, 'At')).getTime(), d }));
    const times = series.map((p) => p.t).concat(marks.map((m) => m.t));
    const children = [];
    if (!times.length) {
      children.push(svg('text', { x: left, y: top + 20, class: 'empty' }, 'waiting for traffic numbers…'));
      chart.replaceChildren(...children);
      return;
    }
    const t0 = Math.min(...times);
    const t1 = Math.max(t0 + 10000, ...times);
    const x = (t) => left + (t - t0) / (t1 - t0) * (width - left - right);

    const successes = [];
    const p99s = [];
    for (const p of series) {
      for (const side of [p.canary, p.stable]) {
        if (side.success !== null) successes.push(side.success);
        if (side.p99 !== null) p99s.push(side.p99);
      }
    }
    for (const m of marks) {
      for (const side of [field(m.d, 'Canary'), field(m.d, 'Stable')]) {
        const s = field(side, 'SuccessRate') ?? field(side, 'SuccessPercent');
        if (s !== undefined && s !== null) successes.push(s);
        const p = field(side, 'P99Ms');
        if (p !== undefined && p !== null) p99s.push(p);
      }
    }
    const successLow = Math.max(0, Math.min(90, Math.floor(Math.min(100, ...successes) / 5) * 5));
    const p99High = Math.max(1, ...p99s) * 1.15;
    const panels = [
      { name: 'success', title: 'success %', y0: top, low: successLow, high: 100, value: (side) => side.success,
        mark: (side) => field(side, 'SuccessRate') ?? field(side, 'SuccessPercent') },
      { name: 'p99', title: 'p99 ms', y0: top + panel + gap, low: 0, high: p99High, value: (side) => side.p99,
        mark: (side) => field(side, 'P99Ms') },
    ];
    for (const pn of panels) {
      const y = (v) => pn.y0 + panel - (v - pn.low) / (pn.high - pn.low) * panel;
      children.push(svg('rect', { x: left, y: pn.y0, width: width - left - right, height: panel, class: 'frame' }));
      children.push(svg('text', { x: 4, y: pn.y0 - 8, class: 'axis' }, pn.title));
      for (const v of [pn.low, (pn.low + pn.high) / 2, pn.high]) {
        children.push(svg('text', { x: left - 6, y: y(v) + 4, class: 'tick' }, fmt(v, pn.name === 'success' ? 0 : 1)));
      }
      marks.forEach((m, i) => {
        const verdict = field(m.d, 'Verdict');
        const g = svg('g', { class: 'decision ' + verdictGrade(verdict) });
        g.append(svg('line', { x1: x(m.t), x2: x(m.t), y1: pn.y0, y2: pn.y0 + panel }));
        for (const [sideName, side] of [['canary', field(m.d, 'Canary')], ['stable', field(m.d, 'Stable')]]) {
          const v = pn.mark(side);
          if (v !== undefined && v !== null) g.append(svg('circle', { cx: x(m.t), cy: y(Math.max(pn.low, Math.min(pn.high, v))), r: 4, class: sideName }));
        }
        // Labels in three staggered rows: decisions close in time (a pause and its resume) stay readable.
        if (pn.name === 'success') g.append(svg('text', { x: x(m.t) + 3, y: pn.y0 + 12 + (i % 3) * 12 }, `${field(m.d, 'Step')}: ${verdict}`));
        children.push(g);
      });
      for (const sideName of ['stable', 'canary']) {
        const points = series.filter((p) => pn.value(p[sideName]) !== null)
          .map((p) => `${x(p.t).toFixed(1)},${y(Math.max(pn.low, Math.min(pn.high, pn.value(p[sideName])))).toFixed(1)}`);
        children.push(svg('polyline', { points: points.join(' '), class: 'line ' + sideName, 'data-series': `${sideName}-${pn.name}`, 'data-points': points.length }));
      }
    }
    const legendY = top + 2 * panel + gap + 20;
    children.push(svg('text', { x: left, y: legendY, class: 'legend canary' }, `— canary ${spec('Canary')}`));
    children.push(svg('text', { x: left + 160, y: legendY, class: 'legend stable' }, `— stable ${spec('Stable')}`));
    children.push(svg('text', { x: width - right, y: legendY, class: 'tick' }, `${Math.round((t1 - t0) / 1000)} s`));
    chart.replaceChildren(...children);
  }

  async function rolloutAction(action) {
    const service = selectedService;
    const r = await api('POST', `/v1/rollouts/${encodeURIComponent(service)}/${action}`);
    $('rollout-result').textContent = r.ok ? `${action}: done` : `${action} refused: ${(r.json && (r.json.detail || r.json.title)) || ('HTTP ' + r.status)}`;
    $('rollout-result').className = r.ok ? 'ok' : 'bad';
    if (r.ok && r.json && field(r.json, 'State')) {
      rollout = r.json;
      renderRollout();
    }
  }

  function start() {
    takeTokenFromFragment();
    $('login-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const value = $('token').value.trim();
      $('token').value = '';
      if (value) { sessionStorage.setItem(TOKEN_KEY, value); poll(); }
    });
    $('forget').addEventListener('click', () => { sessionStorage.removeItem(TOKEN_KEY); showLogin(); setStatus('signed out', false); });
    $('policy-service').addEventListener('change', (e) => {
      selectedService = e.target.value;
      editorDirty = false;
      rollout = null;
      renderRollout();
      loadPolicy();
    });
    for (const action of ['pause', 'resume', 'abort', 'promote']) {
      $('rollout-' + action).addEventListener('click', () => rolloutAction(action));
    }
    $('policy-editor').addEventListener('input', () => { editorDirty = true; renderWeights(); });
    $('validate').addEventListener('click', validate);
    $('apply').addEventListener('click', apply);
    if (token()) poll(); else { showLogin(); setStatus('no token', false); }
  }

  document.addEventListener('DOMContentLoaded', start);
})();
