/* crier.js: a small, dependency-free browser client for Crier's plain
 * dialect (GET /sub/CHANNEL,...), served by crierd at /crier.js.
 *
 *   const crier = new Crier('https://rt.example.com', {
 *     channels: ['news', 'chat:lobby'],
 *     token: '<connection JWT>',              // optional; or a function
 *     transports: ['websocket', 'sse', 'longpoll'],
 *   });
 *   crier.on('message', (data, meta) => console.log(meta.channel, data));
 *   crier.on('transport', (name) => console.log('using', name));
 *
 * It tries the transports in order until one works and then sticks to it,
 * reconnecting with jittered exponential backoff (it starts over from the
 * first transport when the one it uses keeps failing). It keeps the
 * position of every channel (the compound cursor CH=EPOCH:OFFSET,...) and
 * resumes from it after any reconnect or fallback, so no publication is
 * lost or repeated; when the server cannot resume a channel it emits
 * 'reset' for it (reload that state from its source of truth).
 *
 * Events: message (data, {channel, offset, epoch, transport}),
 * transport (name), connected ({transport}), disconnected ({code, reason,
 * reconnect}), reset ({channel, epoch, offset}), join/leave (info,
 * {channel}), unsubscribe ({channel, code, reason}), error (Error).
 * Properties: transport, state ('connecting' | 'connected' | 'closed'),
 * cursor (the compound cursor string).
 */
(function (root) {
  'use strict';

  var ALL_TRANSPORTS = ['websocket', 'sse', 'longpoll'];

  function isTerminal(code) {
    return (code >= 3500 && code < 4000) || (code >= 4500 && code < 5000);
  }

  function Crier(baseUrl, options) {
    if (!(this instanceof Crier)) return new Crier(baseUrl, options);
    options = options || {};
    var channels = options.channels || [];
    if (typeof channels === 'string') channels = channels.split(',');
    if (channels.length === 0) throw new Error('Crier: no channels');

    this.baseUrl = String(baseUrl || '').replace(/\/+$/, '');
    this.channels = channels.slice();
    this.options = options;
    this.minReconnectDelay = options.minReconnectDelay || 250;
    this.maxReconnectDelay = options.maxReconnectDelay || 20000;
    this.fallbackAfter = options.fallbackAfter || 3;
    this.transports = (options.transports || ALL_TRANSPORTS).filter(function (t) {
      if (t === 'websocket') return typeof WebSocket !== 'undefined';
      if (t === 'sse') return typeof EventSource !== 'undefined';
      if (t === 'longpoll') return typeof fetch !== 'undefined';
      return false;
    });
    if (this.transports.length === 0) throw new Error('Crier: no usable transport');

    this.transport = null;       // name of the transport in use
    this.state = 'connecting';
    this._handlers = {};
    this._positions = {};        // channel -> {epoch, offset}
    this._index = 0;             // candidate transport
    this._worked = false;        // the current candidate opened at least once
    this._failures = 0;          // consecutive attempts that did not open
    this._attempt = 0;           // for the backoff
    this._conn = null;           // {close()} of the current attempt
    this._timer = null;
    this._pollCursor = null;     // the server's long-poll cursor (ETag)
    this._generation = 0;        // invalidates callbacks of old attempts

    if (options.autoConnect !== false) {
      var self = this;
      setTimeout(function () { self.connect(); }, 0);
    }
  }

  Crier.prototype.on = function (event, fn) {
    (this._handlers[event] = this._handlers[event] || []).push(fn);
    return this;
  };

  Crier.prototype.off = function (event, fn) {
    var list = this._handlers[event] || [];
    var i = list.indexOf(fn);
    if (i >= 0) list.splice(i, 1);
    return this;
  };

  Crier.prototype._emit = function (event) {
    var args = Array.prototype.slice.call(arguments, 1);
    var list = (this._handlers[event] || []).slice();
    for (var i = 0; i < list.length; i++) {
      try {
        list[i].apply(this, args);
      } catch (e) {
        if (typeof console !== 'undefined') console.error(e);
      }
    }
  };

  Object.defineProperty(Crier.prototype, 'cursor', {
    get: function () {
      var self = this;
      return this.channels.filter(function (c) { return self._positions[c]; }).map(function (c) {
        var p = self._positions[c];
        return c + '=' + p.epoch + ':' + p.offset;
      }).join(',');
    },
  });

  Crier.prototype.connect = function () {
    if (this._conn) return;
    this.state = 'connecting';
    this._open();
  };

  Crier.prototype.close = function () {
    this.state = 'closed';
    this._generation++;
    clearTimeout(this._timer);
    if (this._conn) this._conn.close();
    this._conn = null;
  };

  // ---- positions ---------------------------------------------------------

  Crier.prototype._subscribed = function (channel, sub) {
    if (sub.positioned) this._positions[channel] = { epoch: sub.epoch || '', offset: sub.offset || 0 };
    if (sub.was_recovering && !sub.recovered) {
      this._emit('reset', { channel: channel, epoch: sub.epoch || '', offset: sub.offset || 0 });
    }
  };

  // A publication: deliver it unless it is one we already have.
  Crier.prototype._publication = function (channel, data, offset, epoch) {
    var pos = this._positions[channel];
    if (offset > 0) {
      if (epoch === undefined || epoch === null) epoch = pos ? pos.epoch : '';
      if (pos && pos.epoch === epoch && offset <= pos.offset) return;
      this._positions[channel] = { epoch: epoch, offset: offset };
    }
    this._emit('message', data, { channel: channel, offset: offset || 0, epoch: epoch || '', transport: this.transport });
  };

  // One Centrifugo unidirectional push (WebSocket and SSE with ?meta=1).
  Crier.prototype._push = function (push) {
    if (push.disconnect) {
      this._disconnect = push.disconnect;
    } else if (push.subscribe) {
      this._subscribed(push.channel, push.subscribe);
    } else if (push.pub) {
      this._publication(push.channel, push.pub.data, push.pub.offset || 0, null);
    } else if (push.join) {
      this._emit('join', push.join.info, { channel: push.channel });
    } else if (push.leave) {
      this._emit('leave', push.leave.info, { channel: push.channel });
    } else if (push.unsubscribe) {
      this._emit('unsubscribe', { channel: push.channel, code: push.unsubscribe.code, reason: push.unsubscribe.reason });
    }
  };

  // ---- transports --------------------------------------------------------

  Crier.prototype._query = function (extra) {
    var params = [];
    var token = this._token;
    if (token) params.push('token=' + encodeURIComponent(token));
    for (var k in extra) {
      if (extra[k] !== undefined && extra[k] !== null && extra[k] !== '') {
        params.push(k + '=' + encodeURIComponent(extra[k]));
      }
    }
    return params.length ? '?' + params.join('&') : '';
  };

  Crier.prototype._path = function () {
    return '/sub/' + this.channels.map(encodeURIComponent).join(',');
  };

  Crier.prototype._httpBase = function () {
    if (this.baseUrl) return this.baseUrl;
    return root.location ? root.location.protocol + '//' + root.location.host : '';
  };

  Crier.prototype._open = function () {
    var self = this;
    var generation = ++this._generation;
    var token = this.options.token;
    var name = this.transports[this._index];

    clearTimeout(this._timer);
    this._disconnect = null;
    // A long-poll session cursor is only good while we keep polling.
    if (name !== 'longpoll') this._pollCursor = null;
    Promise.resolve(typeof token === 'function' ? token() : token).then(function (value) {
      if (generation !== self._generation) return;
      self._token = value || '';
      var hooks = {
        opened: function () { if (generation === self._generation) self._opened(name); },
        closed: function (info) { if (generation === self._generation) self._closed(name, info || {}); },
      };
      if (name === 'websocket') self._conn = self._openWebSocket(hooks);
      else if (name === 'sse') self._conn = self._openEventSource(hooks);
      else self._conn = self._openLongPoll(hooks, generation);
    }, function (err) {
      if (generation !== self._generation) return;
      self._emit('error', err);
      self._closed(name, {});
    });
  };

  Crier.prototype._openWebSocket = function (hooks) {
    var self = this;
    var url = this._httpBase().replace(/^http/, 'ws') + this._path() + this._query({ meta: 1, last_event_id: this.cursor });
    var ws = new WebSocket(url);
    var opened = false;
    ws.onopen = function () { opened = true; hooks.opened(); };
    ws.onmessage = function (ev) {
      var push;
      try { push = JSON.parse(ev.data); } catch (e) { return; }
      self._push(push);
    };
    ws.onclose = function (ev) {
      var d = self._disconnect;
      hooks.closed({ opened: opened, code: d ? d.code : ev.code, reason: d ? d.reason : ev.reason });
    };
    return { close: function () { ws.onclose = null; ws.close(); } };
  };

  Crier.prototype._openEventSource = function (hooks) {
    var self = this;
    var url = this._httpBase() + this._path() + this._query({ meta: 1, last_event_id: this.cursor });
    var es = new EventSource(url);
    var opened = false;
    var done = false;
    es.onopen = function () { opened = true; hooks.opened(); };
    es.onmessage = function (ev) {
      var push;
      try { push = JSON.parse(ev.data); } catch (e) { return; }
      self._push(push);
      if (push.disconnect && !done) {
        // The stream ends after this: do not let EventSource retry by itself.
        done = true;
        es.close();
        hooks.closed({ opened: opened, code: push.disconnect.code, reason: push.disconnect.reason });
      }
    };
    es.onerror = function () {
      // We reconnect ourselves, with the cursor in the URL.
      if (done) return;
      done = true;
      es.close();
      hooks.closed({ opened: opened, code: 0, reason: 'event stream failed' });
    };
    return { close: function () { done = true; es.close(); } };
  };

  Crier.prototype._openLongPoll = function (hooks, generation) {
    var self = this;
    var controller = typeof AbortController !== 'undefined' ? new AbortController() : null;
    var stopped = false;
    var opened = false;

    function poll() {
      if (stopped || generation !== self._generation) return;
      var cursor = self._pollCursor || self.cursor;
      var url = self._httpBase() + self._path() + self._query({ cursor: cursor });
      var timer = setTimeout(function () { if (controller) controller.abort(); }, 90000);
      fetch(url, { cache: 'no-store', credentials: 'same-origin', signal: controller ? controller.signal : undefined })
        .then(function (res) {
          var etag = res.headers.get('ETag');
          if (res.status !== 200 && res.status !== 304) throw { status: res.status };
          if (etag) self._pollCursor = etag.replace(/^W\//, '').replace(/^"|"$/g, '');
          return res.status === 200 ? res.json() : [];
        })
        .then(function (entries) {
          clearTimeout(timer);
          if (stopped || generation !== self._generation) return;
          if (!opened) { opened = true; hooks.opened(); }
          for (var i = 0; i < entries.length; i++) {
            var e = entries[i];
            if (e.disconnect) {
              self._pollCursor = null;
              stopped = true;
              hooks.closed({ opened: true, code: e.disconnect.code, reason: e.disconnect.reason });
              return;
            }
            if (e.reset) {
              self._positions[e.channel] = { epoch: e.epoch || '', offset: e.offset || 0 };
              self._emit('reset', { channel: e.channel, epoch: e.epoch || '', offset: e.offset || 0 });
            } else if (e.join || e.leave || e.unsubscribe) {
              self._push(e);
            } else if ('data' in e) {
              self._publication(e.channel, e.data, e.offset || 0, e.epoch);
            }
          }
          poll();
        })
        .catch(function (err) {
          clearTimeout(timer);
          if (stopped || generation !== self._generation) return;
          stopped = true;
          self._pollCursor = null;
          hooks.closed({ opened: opened, code: 0, reason: err && err.status ? 'HTTP ' + err.status : 'poll failed' });
        });
    }
    poll();
    return { close: function () { stopped = true; if (controller) controller.abort(); } };
  };

  // ---- connection state ----------------------------------------------------

  Crier.prototype._opened = function (name) {
    this._worked = true;
    this._failures = 0;
    this._attempt = 0;
    this.state = 'connected';
    if (this.transport !== name) {
      this.transport = name;
      this._emit('transport', name);
    }
    this._emit('connected', { transport: name });
  };

  Crier.prototype._closed = function (name, info) {
    var self = this;
    var code = info.code || 0;
    var wasConnected = this.state === 'connected';

    this._conn = null;
    if (this.state === 'closed') return;
    if (isTerminal(code)) {
      this.state = 'closed';
      this._emit('disconnected', { code: code, reason: info.reason || '', reconnect: false });
      return;
    }
    this.state = 'connecting';
    if (wasConnected) this._emit('disconnected', { code: code, reason: info.reason || '', reconnect: true });

    var delay;
    if (!info.opened) {
      this._failures++;
      if (!this._worked || this._failures >= this.fallbackAfter) {
        // This transport does not work here: try the next one at once
        // (after the last, start over with backoff).
        this._index = (this._index + 1) % this.transports.length;
        this._worked = false;
        this._failures = 0;
        if (this._index !== 0) {
          this._timer = setTimeout(function () { self._open(); }, 0);
          return;
        }
      }
    }
    delay = Math.min(this.maxReconnectDelay, this.minReconnectDelay * Math.pow(2, this._attempt));
    delay = delay / 2 + Math.random() * delay / 2;
    this._attempt = Math.min(this._attempt + 1, 16);
    this._timer = setTimeout(function () { self._open(); }, delay);
  };

  if (typeof module === 'object' && module.exports) module.exports = Crier;
  else root.Crier = Crier;
})(typeof self !== 'undefined' ? self : this);
