// Herald debug console: draws an app's live events from the stream
// (EventSource, text/event-stream) and sends the event creator's form with
// fetch. Event data is only ever set as textContent: it comes from
// clients and API callers, never trusted as markup.
(function () {
  'use strict';

  var DETAILS = ['node', 'event', 'user_id', 'code', 'status', 'bytes', 'reason', 'remote', 'endpoint', 'detail'];

  function two(n) { return (n < 10 ? '0' : '') + n; }

  function clock(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) { return String(iso || ''); }
    var ms = String(d.getMilliseconds());
    while (ms.length < 3) { ms = '0' + ms; }
    return two(d.getHours()) + ':' + two(d.getMinutes()) + ':' + two(d.getSeconds()) + '.' + ms;
  }

  function cell(row, text, cls) {
    var td = document.createElement('td');
    td.textContent = text === undefined || text === null ? '' : String(text);
    if (cls) { td.className = cls; }
    row.appendChild(td);
    return td;
  }

  function rowOf(e) {
    var tr = document.createElement('tr');
    tr.className = 'type-' + String(e.type || '').replace(/[^a-z_]/g, '');
    cell(tr, clock(e.time), 'time');
    cell(tr, e.type, 'type');
    cell(tr, e.channel, 'channel');
    cell(tr, e.socket_id, 'socket');
    var parts = [];
    DETAILS.forEach(function (k) {
      if (e[k] !== undefined && e[k] !== '' && e[k] !== 0) { parts.push(k + '=' + e[k]); }
    });
    cell(tr, parts.join(' '), 'details');
    cell(tr, e.data, 'data');
    return tr;
  }

  function setUpStream(table) {
    var base = table.getAttribute('data-stream');
    var max = parseInt(table.getAttribute('data-max'), 10) || 500;
    var body = table.tBodies[0];
    var status = document.getElementById('console-status');
    var droppedEl = document.getElementById('console-dropped');
    var pausedEl = document.getElementById('console-paused');
    var pauseBtn = document.getElementById('console-pause');
    var clearBtn = document.getElementById('console-clear');
    var reconnectBtn = document.getElementById('console-reconnect');
    var filter = document.getElementById('console-filter');

    var source = null;
    var paused = false;
    var pending = [];     // the last max events that arrived while paused
    var arrived = 0;      // how many arrived while paused
    var dropped = 0;      // summed over every connection of this page

    function say(text) { status.textContent = text; }

    function show(e) {
      body.insertBefore(rowOf(e), body.firstChild);
      while (body.rows.length > max) { body.deleteRow(body.rows.length - 1); }
    }

    function query() {
      var q = new URLSearchParams();
      var ch = filter.elements.channel.value.trim();
      if (ch !== '') { q.set('channel', ch); }
      var types = [];
      filter.querySelectorAll('input[name=types]:checked').forEach(function (b) { types.push(b.value); });
      if (types.length) { q.set('types', types.join(',')); }
      return q.toString();
    }

    function connect() {
      if (source) { source.close(); }
      var q = query();
      reconnectBtn.hidden = true;
      say('Connecting…');
      source = new EventSource(base + (q ? '?' + q : ''));
      source.onopen = function () {
        say('Live' + (q ? ' (filter: ' + decodeURIComponent(q.replace(/\+/g, ' ')) + ')' : '') + '.');
      };
      source.onmessage = function (m) {
        var e;
        try { e = JSON.parse(m.data); } catch (err) { return; }
        if (paused) {
          arrived++;
          pending.push(e);
          if (pending.length > max) { pending.shift(); }
          pausedEl.textContent = 'Paused: ' + arrived + ' new event' + (arrived === 1 ? '' : 's') + '.';
          return;
        }
        show(e);
      };
      source.addEventListener('dropped', function (m) {
        try { dropped += JSON.parse(m.data)['new'] || 0; } catch (err) { return; }
        droppedEl.textContent = String(dropped);
      });
      source.addEventListener('end', function () {
        source.close();
        say('The server closed the console (it is shutting down).');
        reconnectBtn.hidden = false;
      });
      source.onerror = function () {
        if (source.readyState === EventSource.CLOSED) {
          say('Disconnected: the session may have ended, the filter is invalid, or too many consoles are open.');
          reconnectBtn.hidden = false;
        } else {
          say('Connection lost; reconnecting…');
        }
      };
    }

    pauseBtn.hidden = false;
    clearBtn.hidden = false;
    pauseBtn.addEventListener('click', function () {
      paused = !paused;
      pauseBtn.textContent = paused ? 'Resume' : 'Pause';
      if (paused) {
        pausedEl.textContent = 'Paused.';
        return;
      }
      pending.forEach(show);
      pending = [];
      arrived = 0;
      pausedEl.textContent = '';
    });
    clearBtn.addEventListener('click', function () {
      while (body.rows.length) { body.deleteRow(0); }
    });
    reconnectBtn.addEventListener('click', connect);
    filter.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var q = query();
      if (window.history && window.history.replaceState) {
        window.history.replaceState(null, '', filter.getAttribute('action') + (q ? '?' + q : ''));
      }
      connect();
    });
    window.addEventListener('pagehide', function () { if (source) { source.close(); } });
    connect();
  }

  function setUpTrigger(form) {
    var result = document.getElementById('trigger-result');
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var button = form.querySelector('button[type=submit]');
      button.disabled = true;
      result.className = '';
      result.textContent = 'Publishing…';
      fetch(form.getAttribute('action'), {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Accept': 'application/json' },
        body: new URLSearchParams(new FormData(form))
      }).then(function (res) {
        var type = res.headers.get('Content-Type') || '';
        if (type.indexOf('application/json') !== 0) {
          return { error: res.status === 403 ? 'Refused: reload the page (the form has expired).' : 'Failed: HTTP ' + res.status };
        }
        return res.json();
      }).then(function (out) {
        if (out && out.ok) {
          result.className = 'ok';
          result.textContent = 'Published.';
        } else {
          result.className = 'error';
          result.textContent = (out && out.error) || 'Failed.';
        }
      }, function () {
        result.className = 'error';
        result.textContent = 'Failed: the server could not be reached.';
      }).then(function () { button.disabled = false; });
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    var table = document.getElementById('console-events');
    if (table && window.EventSource) { setUpStream(table); }
    var form = document.getElementById('console-trigger');
    if (form && window.fetch && window.URLSearchParams && window.FormData) { setUpTrigger(form); }
  });
}());
