// Herald dashboard charts: fetches the page's data (GET /stats/data, JSON)
// and draws one uPlot chart per section#chart-{id}; polls it while the page
// asks to (data-poll, seconds). No inline script: the CSP forbids it.
//
// For browser tests, each chart section carries data-points (the intervals
// drawn) and data-last (the newest one's start, unix seconds); #charts
// carries data-state (loading, ok, error) and data-fetches.
(function () {
  'use strict';

  var root = document.getElementById('charts');
  if (!root) { return; }
  var status = document.getElementById('charts-status');

  // Colours by line key; other lines take the palette in order.
  var named = {
    current: '#2457c5', peak: '#8fa8e0',
    '2xx': '#2b8a3e', '4xx': '#e8590c', '5xx': '#c92a2a',
    delivered: '#2b8a3e', retried: '#e8590c', failed: '#c92a2a'
  };
  var palette = ['#2457c5', '#e8590c', '#2b8a3e', '#ae3ec9', '#c92a2a', '#0b7285', '#5f3dc4', '#a61e4d'];

  // Integer ticks only: every value is a count.
  var incrs = [];
  for (var e = 0; e <= 12; e++) {
    var p = Math.pow(10, e);
    incrs.push(p, 2 * p, 5 * p);
  }

  function compact(v) {
    if (v == null) { return ''; }
    var a = Math.abs(v);
    var units = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
    for (var i = 0; i < units.length; i++) {
      if (a >= units[i][0]) { return trim(v / units[i][0]) + units[i][1]; }
    }
    return trim(v);
  }

  function trim(x) { return String(Math.round(x * 100) / 100); }

  function cssVar(name, fallback) {
    var v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return v || fallback;
  }

  function say(text) {
    if (status) { status.textContent = text; }
  }

  var plots = {}; // by chart id: {u, shape, from, to, zoomed}

  function fewPoints(u, si, i0, i1) {
    var vals = u.data[si], n = 0;
    for (var i = i0; i <= i1; i++) {
      if (vals[i] != null && ++n > 30) { return false; }
    }
    return true;
  }

  function plotWidth(el) { return Math.max(240, el.clientWidth || 600); }

  function create(box, el, ch, data) {
    var fg = cssVar('--muted', '#5d6675');
    var grid = cssVar('--line', '#d9dde4');
    var st = { from: data.from, to: data.to, zoomed: false };
    var series = [{}];
    ch.lines.forEach(function (l, i) {
      series.push({
        label: l.label,
        stroke: named[l.key] || palette[i % palette.length],
        width: 1.5,
        dash: l.key === 'peak' ? [4, 3] : undefined,
        spanGaps: false,
        // With a few points over the range a line would be a sliver:
        // draw the points themselves.
        points: { show: fewPoints, size: 5 },
        value: function (u, v) { return v == null ? '–' : compact(v); }
      });
    });
    var opts = {
      width: plotWidth(el),
      height: 200,
      series: series,
      cursor: { sync: { key: 'herald-charts' } },
      legend: { live: true },
      scales: {
        x: { time: true, range: function () { return [st.from, st.to]; } },
        y: { range: function (u, min, max) { return [0, max > 0 ? Math.ceil(max * 1.1) : 1]; } }
      },
      axes: [
        { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } },
        {
          stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 },
          label: ch.unit, labelSize: 20, size: 56, incrs: incrs,
          values: function (u, splits) { return splits.map(compact); }
        }
      ],
      hooks: {
        // A zoom (drag to select; double-click undoes it) survives the
        // refreshes until it is undone.
        setScale: [function (u, key) {
          if (key === 'x' && u.scales.x.min != null) {
            st.zoomed = u.scales.x.min > st.from + 1 || u.scales.x.max < st.to - 1;
          }
        }]
      }
    };
    st.u = new uPlot(opts, columns(ch, data), el);
    return st;
  }

  function columns(ch, data) {
    return [data.times].concat(ch.lines.map(function (l) { return l.values; }));
  }

  function draw(data) {
    data.charts.forEach(function (ch) {
      var box = document.getElementById('chart-' + ch.id);
      if (!box) { return; }
      var el = box.querySelector('.plot');
      var shape = ch.unit + '|' + ch.lines.map(function (l) { return l.key; }).join(',');
      var p = plots[ch.id];
      if (p && p.shape === shape) {
        p.from = data.from;
        p.to = data.to;
        p.u.setData(columns(ch, data), !p.zoomed);
      } else {
        if (p) { p.u.destroy(); }
        el.textContent = '';
        p = create(box, el, ch, data);
        p.shape = shape;
        plots[ch.id] = p;
      }
      // Points drawn: the intervals where some line has a value (a gap
      // row has none).
      var n = 0, last = '';
      for (var i = 0; i < data.times.length; i++) {
        for (var j = 0; j < ch.lines.length; j++) {
          if (ch.lines[j].values[i] != null) { n++; last = String(data.times[i]); break; }
        }
      }
      box.setAttribute('data-points', String(n));
      box.setAttribute('data-last', last);
    });
  }

  var url = root.getAttribute('data-url');
  var poll = parseInt(root.getAttribute('data-poll'), 10) || 0;
  var fetches = 0;
  var timer = null;     // the next poll
  var loading = false;  // a fetch is under way
  var missed = false;   // a poll came while the page was hidden

  function schedule() {
    if (poll > 0 && timer === null) {
      timer = setTimeout(function () { timer = null; load(); }, poll * 1000);
    }
  }

  function load() {
    if (loading) { return; }
    if (document.hidden && fetches > 0) { missed = true; return; } // visibilitychange loads again
    loading = true;
    fetch(url, { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } })
      .then(function (res) {
        var type = res.headers.get('Content-Type') || '';
        if (res.redirected || type.indexOf('application/json') !== 0) {
          throw new Error('Your session has ended: reload the page to log in again.');
        }
        return res.json().then(function (body) {
          if (!res.ok) { throw new Error(body.error || ('HTTP ' + res.status)); }
          return body;
        });
      })
      .then(function (data) {
        loading = false;
        draw(data);
        fetches++;
        root.setAttribute('data-fetches', String(fetches));
        root.setAttribute('data-state', 'ok');
        say(data.times.length ? '' : 'No data yet for this range.');
        schedule();
      })
      .catch(function (err) {
        loading = false;
        root.setAttribute('data-state', 'error');
        say('Could not load the charts: ' + err.message);
        if (err.message.indexOf('session') < 0) { schedule(); }
      });
  }

  var resizing = null;
  window.addEventListener('resize', function () {
    clearTimeout(resizing);
    resizing = setTimeout(function () {
      Object.keys(plots).forEach(function (id) {
        var p = plots[id];
        p.u.setSize({ width: plotWidth(p.u.root.parentNode), height: 200 });
      });
    }, 150);
  });

  document.addEventListener('visibilitychange', function () {
    if (!document.hidden && missed) { missed = false; load(); }
  });

  document.addEventListener('DOMContentLoaded', function () {
    if (typeof uPlot === 'undefined') {
      root.setAttribute('data-state', 'error');
      say('The chart library did not load.');
      return;
    }
    load();
  });
}());
