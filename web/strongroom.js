// SPDX-License-Identifier: Apache-2.0
//
// strongroom.js: the script a marketplace's checkout page includes from the
// card vault (<script src="https://VAULT/v1/strongroom.js"></script>) to
// mount the hosted card form. The form is an iframe on the vault's origin;
// this page never sees a card number, only the token and the card's display
// data (brand, last 4 digits, expiry). See docs/elements.md.
//
//   const card = Strongroom.mount('#card', {
//     publishableKey: 'pk_...',
//     onToken: ({ token }) => { ... send token.id to your server ... },
//     onError: (error) => { ... },          // {type, code, message, param}
//     onChange: (state) => { ... },         // {complete, empty, brand, error}
//     style: { color: '#222', fontSize: '15px' },
//   });
//   const { token, error } = await card.submit();
(function (global) {
	'use strict';

	// The vault is whoever served this script: every message is checked
	// against its origin, and the iframe is loaded from it.
	var script = document.currentScript;
	var VAULT_ORIGIN = script && script.src ? new URL(script.src).origin : null;
	var READY_TIMEOUT_MS = 15000;
	var FRAME_HEIGHT_MAX = 2000;

	function err(type, code, message, param) {
		return { type: type, code: code, message: message, param: param || null };
	}

	// Copies only the documented members, so nothing else the frame might
	// send (by a bug) reaches the page's callbacks.
	function cleanToken(t) {
		if (!t || typeof t.id !== 'string' || t.id.indexOf('tok_') !== 0 || !t.card) return null;
		return {
			id: t.id,
			card: {
				brand: String(t.card.brand),
				last4: String(t.card.last4),
				exp_month: Number(t.card.exp_month),
				exp_year: Number(t.card.exp_year),
			},
		};
	}

	function cleanError(e) {
		if (!e || typeof e !== 'object') return err('api_error', 'unexpected_response', 'The card form answered unexpectedly.');
		var out = err(
			typeof e.type === 'string' ? e.type : 'api_error',
			typeof e.code === 'string' ? e.code : null,
			typeof e.message === 'string' ? e.message : 'The card could not be saved.',
			typeof e.param === 'string' ? e.param : null);
		if (typeof e.decline_code === 'string') out.decline_code = e.decline_code;
		return out;
	}

	function call(fn, arg) {
		if (typeof fn !== 'function') return;
		try {
			fn(arg);
		} catch (e) {
			setTimeout(function () { throw e; }, 0); // report, but keep the form working
		}
	}

	function mount(target, options) {
		var opts = options || {};
		var el = typeof target === 'string' ? document.querySelector(target) : target;
		if (!el || typeof el.appendChild !== 'function') throw new Error('Strongroom.mount: no element ' + String(target));
		if (!VAULT_ORIGIN) throw new Error('Strongroom.mount: load strongroom.js with a <script src> from the vault');
		var pk = opts.publishableKey;
		if (typeof pk !== 'string' || pk.indexOf('pk_') !== 0) {
			if (typeof pk === 'string' && pk.indexOf('sk_') === 0)
				throw new Error('Strongroom.mount: never put a secret key (sk_...) in a web page; use the publishable key (pk_...) and rotate that secret key');
			throw new Error('Strongroom.mount: publishableKey must be the vault publishable key (pk_...)');
		}
		if (global.location.origin === 'null') throw new Error('Strongroom.mount: the page needs an origin (serve it over https)');

		var iframe = document.createElement('iframe');
		iframe.src = VAULT_ORIGIN + '/elements/card?origin=' + encodeURIComponent(global.location.origin) +
			'&key=' + encodeURIComponent(pk);
		iframe.title = 'Secure card payment form';
		iframe.setAttribute('frameborder', '0');
		iframe.setAttribute('scrolling', 'no');
		iframe.setAttribute('allow', '');
		iframe.referrerPolicy = 'no-referrer';
		iframe.style.border = '0';
		iframe.style.width = '100%';
		iframe.style.height = '200px';
		iframe.style.display = 'block';
		iframe.style.colorScheme = 'normal';

		var ready = false;
		var destroyed = false;
		var nextId = 1;
		var pending = null; // {id, promise, resolve}
		var queued = [];

		function post(msg) {
			if (destroyed) return;
			if (!ready) {
				queued.push(msg);
				return;
			}
			iframe.contentWindow.postMessage(msg, VAULT_ORIGIN);
		}

		var loadTimeout = typeof opts.loadTimeoutMs === 'number' && opts.loadTimeoutMs > 0 ? opts.loadTimeoutMs : READY_TIMEOUT_MS;
		var loadError = null; // set when the form did not load in time
		var readyTimer = setTimeout(function () {
			if (ready || destroyed) return;
			var e = err('api_error', 'form_unavailable',
				'The card form did not load: check the publishable key and that this page\'s origin (' +
				global.location.origin + ') is in the vault\'s [vault] platform_origins.');
			loadError = e;
			queued = [];
			call(opts.onError, e);
			if (pending) {
				var p = pending;
				pending = null;
				p.resolve({ error: e });
			}
		}, loadTimeout);

		function onMessage(ev) {
			if (ev.origin !== VAULT_ORIGIN || ev.source !== iframe.contentWindow) return;
			var msg = ev.data;
			if (!msg || typeof msg !== 'object' || typeof msg.type !== 'string') return;
			switch (msg.type) {
			case 'strongroom:ready':
				ready = true;
				loadError = null; // late, but here
				clearTimeout(readyTimer);
				if (opts.style) post({ type: 'strongroom:style', style: opts.style });
				var q = queued;
				queued = [];
				for (var i = 0; i < q.length; i++) post(q[i]);
				call(opts.onReady);
				break;
			case 'strongroom:resize':
				if (typeof msg.height === 'number' && msg.height > 0)
					iframe.style.height = Math.min(Math.ceil(msg.height), FRAME_HEIGHT_MAX) + 'px';
				break;
			case 'strongroom:change':
				call(opts.onChange, {
					complete: msg.complete === true,
					empty: msg.empty === true,
					brand: typeof msg.brand === 'string' ? msg.brand : 'unknown',
					error: msg.error ? cleanError(msg.error) : null,
				});
				break;
			case 'strongroom:result':
				var result;
				var token = cleanToken(msg.token);
				if (token) {
					result = { token: token };
					call(opts.onToken, result);
				} else {
					result = { error: cleanError(msg.error) };
					call(opts.onError, result.error);
				}
				// A result for the pending submit() settles it; one started
				// in the frame (Enter key) only fires the callbacks.
				if (pending && msg.id === pending.id) {
					var p = pending;
					pending = null;
					p.resolve(result);
				}
				break;
			default:
				break;
			}
		}
		global.addEventListener('message', onMessage);
		el.appendChild(iframe);

		var handle = {
			// Encrypts and tokenizes the typed card. Resolves {token} or
			// {error}; never rejects. A second call while one is running
			// returns the same promise.
			submit: function () {
				if (destroyed) return Promise.resolve({ error: err('invalid_request_error', 'unmounted', 'The card form was unmounted.') });
				if (pending) return pending.promise;
				if (loadError) return Promise.resolve({ error: loadError });
				var id = nextId++;
				var resolve;
				var promise = new Promise(function (r) { resolve = r; });
				pending = { id: id, promise: promise, resolve: resolve };
				post({ type: 'strongroom:submit', id: id });
				return promise;
			},
			clear: function () { post({ type: 'strongroom:clear' }); },
			focus: function () { post({ type: 'strongroom:focus' }); },
			unmount: function () {
				if (destroyed) return;
				destroyed = true;
				clearTimeout(readyTimer);
				global.removeEventListener('message', onMessage);
				if (iframe.parentNode) iframe.parentNode.removeChild(iframe);
				if (pending) {
					var p = pending;
					pending = null;
					p.resolve({ error: err('invalid_request_error', 'unmounted', 'The card form was unmounted.') });
				}
			},
		};
		handle.tokenize = handle.submit;
		return handle;
	}

	global.Strongroom = Object.freeze({ mount: mount, version: '1' });
})(window);
