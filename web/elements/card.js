// SPDX-License-Identifier: Apache-2.0
//
// strongroom hosted card form: the script of /elements/card, running in an
// iframe on the vault's origin. It validates what the buyer types (Luhn,
// brand by IIN, length per brand, expiry, CVC length), and on the parent's
// submit message encrypts the card as a compact JWE (RSA-OAEP-256 wrapping a
// random A256GCM key, with the vault key's kid) over {number, exp_month,
// exp_year, cvc, name, nonce, iat}, posts it to /v1/tokens with the
// publishable key, and hands the parent only the token and the card's
// display data. Card data leaves this page only inside the JWE.
//
// Origins: the vault served this page only for a parent origin listed in
// [vault] platform_origins (and its CSP frame-ancestors lists exactly
// those). Messages go to that origin only (exact targetOrigin, never "*"),
// and only messages from it, sent by our parent window, are read.
//
// Messages (all objects with a string `type`):
//   parent -> form: strongroom:submit {id}, strongroom:clear, strongroom:focus,
//                   strongroom:style {style}
//   form -> parent: strongroom:ready, strongroom:resize {height},
//                   strongroom:change {complete, empty, brand, error},
//                   strongroom:result {id, token} | {id, error}
'use strict';

(() => {
	const params = new URLSearchParams(window.location.search);
	const parentOrigin = params.get('origin');
	const publishableKey = params.get('key');
	const $ = (id) => document.getElementById(id);

	// ------------------------------------------------------------ card rules
	// Kept in step with src/lib/card.c, which the vault enforces anyway.

	function prefix(d, n) {
		return d.length >= n ? Number(d.slice(0, n)) : -1;
	}
	const within = (v, lo, hi) => v >= lo && v <= hi;

	function brandOf(d) {
		const p1 = prefix(d, 1), p2 = prefix(d, 2), p3 = prefix(d, 3), p4 = prefix(d, 4);
		if (p1 === 4) return 'visa';
		if (p2 === 34 || p2 === 37) return 'amex';
		if (d.length < 2) return 'unknown';
		if (within(p2, 51, 55)) return 'mastercard';
		if (p2 === 36 || p2 === 38 || p2 === 39 || within(p3, 300, 305)) return 'diners';
		if (p2 === 65 || p4 === 6011 || within(p3, 644, 649)) return 'discover';
		if (p2 === 62 || p2 === 81) return 'unionpay';
		if (d.length < 4) return 'unknown';
		if (within(p4, 2200, 2204)) return 'mir';
		if (within(p4, 2221, 2720)) return 'mastercard';
		if (within(p4, 3528, 3589)) return 'jcb';
		if (p2 === 50 || within(p2, 56, 59) || p2 === 63 || p2 === 67) return 'maestro';
		return 'unknown';
	}

	function lengthOk(brand, n) {
		switch (brand) {
		case 'visa': return n === 13 || n === 16 || n === 19;
		case 'mastercard': return n === 16;
		case 'amex': return n === 15;
		case 'discover': case 'jcb': case 'unionpay': case 'mir': return n >= 16 && n <= 19;
		case 'diners': return n >= 14 && n <= 19;
		case 'maestro': return n >= 12 && n <= 19;
		default: return false;
		}
	}

	function maxLength(brand) {
		switch (brand) {
		case 'amex': return 15;
		case 'mastercard': return 16;
		default: return 19;
		}
	}

	function luhnOk(d) {
		let sum = 0;
		for (let i = 0; i < d.length; i++) {
			let v = d.charCodeAt(d.length - 1 - i) - 48;
			if (i % 2 === 1) {
				v *= 2;
				if (v > 9) v -= 9;
			}
			sum += v;
		}
		return d.length > 0 && sum % 10 === 0;
	}

	const cvcLength = (brand) => (brand === 'amex' ? 4 : 3);
	const BRAND_LABEL = {
		visa: 'Visa', mastercard: 'Mastercard', amex: 'American Express', discover: 'Discover',
		jcb: 'JCB', diners: 'Diners Club', unionpay: 'UnionPay', maestro: 'Maestro', mir: 'Mir',
	};

	// ------------------------------------------------------------ fields

	const form = $('card-form');
	const fields = {
		number: $('sr-number'),
		exp: $('sr-exp'),
		cvc: $('sr-cvc'),
		name: $('sr-name'),
	};
	const errorEls = {
		number: $('sr-number-error'),
		exp: $('sr-exp-error'),
		cvc: $('sr-cvc-error'),
		name: $('sr-name-error'),
		form: $('sr-form-error'),
	};
	const touched = { number: false, exp: false, cvc: false, name: false };
	let busy = false;
	let disabled = false;

	const digitsOf = (s) => s.replace(/\D/g, '');

	function formatNumber(d, brand) {
		const groups = brand === 'amex' || (brand === 'diners' && d.length === 14) ? [4, 6, 5] : [4, 4, 4, 4, 3];
		const out = [];
		let i = 0;
		for (const g of groups) {
			if (i >= d.length) break;
			out.push(d.slice(i, i + g));
			i += g;
		}
		return out.join(' ');
	}

	// Parses "MM / YY", "MM/YYYY", "MMYY" into {month, year} (year four digits).
	function parseExpiry(s) {
		const m = /^\s*(\d{1,2})\s*\/?\s*(\d{2}|\d{4})\s*$/.exec(s);
		if (!m) {
			const d = digitsOf(s);
			if (d.length === 4) return { month: Number(d.slice(0, 2)), year: 2000 + Number(d.slice(2)) };
			if (d.length === 6) return { month: Number(d.slice(0, 2)), year: Number(d.slice(2)) };
			return null;
		}
		const year = m[2].length === 2 ? 2000 + Number(m[2]) : Number(m[2]);
		return { month: Number(m[1]), year };
	}

	function formatExpiry(raw, deleting) {
		let d = digitsOf(raw).slice(0, 6);
		// "4" can only be April: make it "04" so the buyer need not type 0.
		if (d.length === 1 && d > '1') d = `0${d}`;
		if (d.length < 2) return d;
		if (d.length === 2 && deleting) return d;
		return `${d.slice(0, 2)} / ${d.slice(2)}`;
	}

	// Each check returns {complete, error: {code, message, param} | null}.
	// `final` is true on blur and submit: incomplete is then an error.
	function checkNumber(final) {
		const d = digitsOf(fields.number.value);
		const brand = brandOf(d);
		if (d.length === 0)
			return { complete: false, brand, error: final ? err('incomplete_number', 'Enter your card number.', 'number') : null };
		if (brand === 'unknown' && d.length >= 4)
			return { complete: false, brand, error: err('invalid_number', 'This card brand is not supported.', 'number') };
		if (lengthOk(brand, d.length) && luhnOk(d)) return { complete: true, brand, error: null };
		// At the brand's usual length a Luhn failure is a typo: say so now.
		// (A rare longer card clears the message as its digits follow.)
		const usual = brand === 'amex' ? 15 : brand === 'diners' ? 14 : 16;
		if ((lengthOk(brand, d.length) && d.length >= usual) || d.length >= maxLength(brand) || (final && lengthOk(brand, d.length)))
			return { complete: false, brand, error: err('invalid_number', 'Your card number is invalid.', 'number') };
		return { complete: false, brand, error: final ? err('incomplete_number', 'Your card number is incomplete.', 'number') : null };
	}

	function checkExpiry(final) {
		const v = fields.exp.value;
		const d = digitsOf(v);
		if (d.length === 0)
			return { complete: false, error: final ? err('incomplete_expiry', 'Enter the expiry date.', 'exp_month') : null };
		if (d.length >= 2) {
			const month = Number(d.slice(0, 2));
			if (month < 1 || month > 12)
				return { complete: false, error: err('invalid_expiry_month', 'The expiry month is invalid.', 'exp_month') };
		}
		if (d.length < 4)
			return { complete: false, error: final ? err('incomplete_expiry', 'The expiry date is incomplete.', 'exp_month') : null };
		const e = parseExpiry(v);
		if (e === null || d.length === 5)
			return { complete: false, error: final ? err('incomplete_expiry', 'The expiry date is incomplete.', 'exp_month') : null };
		const now = new Date();
		const y = now.getFullYear(), m = now.getMonth() + 1;
		if (e.year < y || (e.year === y && e.month < m))
			return { complete: false, error: err('invalid_expiry_year', 'Your card’s expiry date is in the past.', 'exp_year') };
		if (e.year > y + 50)
			return { complete: false, error: err('invalid_expiry_year', 'The expiry year is invalid.', 'exp_year') };
		return { complete: true, error: null, month: e.month, year: e.year };
	}

	function checkCvc(final, brand) {
		const d = digitsOf(fields.cvc.value);
		const want = cvcLength(brand);
		if (d.length === want || (brand === 'unknown' && (d.length === 3 || d.length === 4)))
			return { complete: true, error: null };
		if (d.length > want)
			return { complete: false, error: err('invalid_cvc', `The security code has ${want} digits for this card.`, 'cvc') };
		if (d.length === 0)
			return { complete: false, error: final ? err('incomplete_cvc', 'Enter the security code.', 'cvc') : null };
		return { complete: false, error: final ? err('incomplete_cvc', 'The security code is incomplete.', 'cvc') : null };
	}

	function checkName() {
		const v = fields.name.value;
		// Optional; when given it must be a printable name (the vault's rule).
		// eslint-disable-next-line no-control-regex
		if (v.length > 0 && (v.trim().length === 0 || /[\u0000-\u001f\u007f-\u009f]/.test(v)))
			return { complete: false, error: err('invalid_name', 'The name on the card is invalid.', 'name') };
		return { complete: true, error: null };
	}

	function err(code, message, param) {
		return { type: 'invalid_request_error', code, message, param };
	}

	function showError(field, e) {
		errorEls[field].textContent = e ? e.message : '';
		if (field !== 'form') fields[field].setAttribute('aria-invalid', e ? 'true' : 'false');
	}

	// Validates every field; shows errors only for touched fields unless final.
	function validate(final) {
		const n = checkNumber(final || (touched.number && document.activeElement !== fields.number));
		const x = checkExpiry(final || (touched.exp && document.activeElement !== fields.exp));
		const c = checkCvc(final || (touched.cvc && document.activeElement !== fields.cvc), n.brand);
		const nm = checkName();
		showError('number', n.error);
		showError('exp', x.error);
		showError('cvc', c.error);
		showError('name', nm.error);
		$('sr-brand').textContent = BRAND_LABEL[n.brand] || '';
		const error = n.error || x.error || c.error || nm.error || null;
		return {
			complete: n.complete && x.complete && c.complete && nm.complete,
			empty: !fields.number.value && !fields.exp.value && !fields.cvc.value && !fields.name.value,
			brand: n.brand,
			error,
			expiry: x,
		};
	}

	let lastChange = '';
	function reportChange(state) {
		// Only what a checkout needs to enable its button: never a digit.
		const msg = {
			type: 'strongroom:change',
			complete: state.complete,
			empty: state.empty,
			brand: state.brand,
			error: state.error,
		};
		const key = JSON.stringify(msg);
		if (key !== lastChange) {
			lastChange = key;
			toParent(msg);
		}
	}

	fields.number.addEventListener('input', () => {
		const d = digitsOf(fields.number.value);
		const brand = brandOf(d);
		const clipped = d.slice(0, maxLength(brand));
		const atEnd = fields.number.selectionStart === fields.number.value.length;
		const formatted = formatNumber(clipped, brand);
		if (formatted !== fields.number.value) {
			fields.number.value = formatted;
			if (atEnd) fields.number.setSelectionRange(formatted.length, formatted.length);
		}
		reportChange(validate(false));
	});
	fields.exp.addEventListener('input', (ev) => {
		const deleting = ev.inputType !== undefined && ev.inputType.startsWith('delete');
		const formatted = formatExpiry(fields.exp.value, deleting);
		if (formatted !== fields.exp.value) fields.exp.value = formatted;
		reportChange(validate(false));
	});
	fields.cvc.addEventListener('input', () => {
		const d = digitsOf(fields.cvc.value).slice(0, 4);
		if (d !== fields.cvc.value) fields.cvc.value = d;
		reportChange(validate(false));
	});
	fields.name.addEventListener('input', () => reportChange(validate(false)));
	for (const [name, el] of Object.entries(fields))
		el.addEventListener('blur', () => {
			if (el.value !== '') touched[name] = true;
			reportChange(validate(false));
		});
	// Enter in a field submits: the same path as the parent's submit().
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		tokenize(null);
	});

	function clearFields() {
		for (const el of Object.values(fields)) {
			el.value = '';
			el.setAttribute('aria-invalid', 'false');
		}
		for (const k of Object.keys(touched)) touched[k] = false;
		for (const k of Object.keys(errorEls)) showError(k, null);
		$('sr-brand').textContent = '';
		reportChange(validate(false));
	}

	// ------------------------------------------------------------ encryption

	const enc = new TextEncoder();

	function b64url(bytes) {
		let s = '';
		for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
		return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
	}

	async function encryptionKey() {
		const r = await fetch('/v1/jwks.json', { credentials: 'omit', referrerPolicy: 'no-referrer' });
		if (!r.ok) throw apiError('jwks_unavailable', 'The card vault is not available; try again shortly.');
		const set = await r.json();
		// The vault lists its active key first; older kids stay listed
		// during a rotation only so that forms already loaded keep working.
		const jwk = (set.keys || []).find((k) => k.kty === 'RSA' && k.alg === 'RSA-OAEP-256' && (k.use === undefined || k.use === 'enc'));
		if (!jwk) throw apiError('jwks_unavailable', 'The card vault has no encryption key; try again shortly.');
		const pub = await crypto.subtle.importKey(
			'jwk', { kty: 'RSA', n: jwk.n, e: jwk.e, alg: 'RSA-OAEP-256', ext: true },
			{ name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['encrypt']);
		return { kid: jwk.kid, pub };
	}

	async function encryptCard(card) {
		const { kid, pub } = await encryptionKey();
		const protectedB64 = b64url(enc.encode(JSON.stringify({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid })));
		const cek = crypto.getRandomValues(new Uint8Array(32));
		const iv = crypto.getRandomValues(new Uint8Array(12));
		const plain = enc.encode(JSON.stringify(card));
		try {
			const wrapped = new Uint8Array(await crypto.subtle.encrypt({ name: 'RSA-OAEP' }, pub, cek));
			const aes = await crypto.subtle.importKey('raw', cek, { name: 'AES-GCM' }, false, ['encrypt']);
			const sealed = new Uint8Array(await crypto.subtle.encrypt(
				{ name: 'AES-GCM', iv, additionalData: enc.encode(protectedB64), tagLength: 128 }, aes, plain));
			const ct = sealed.subarray(0, sealed.length - 16);
			const tag = sealed.subarray(sealed.length - 16);
			return [protectedB64, b64url(wrapped), b64url(iv), b64url(ct), b64url(tag)].join('.');
		} finally {
			// JavaScript strings cannot be wiped; the byte copies can.
			cek.fill(0);
			plain.fill(0);
		}
	}

	function apiError(code, message) {
		return { type: 'api_error', code, message, param: null };
	}

	// Keeps only the documented members of an error answered by the vault.
	function cleanError(e) {
		if (!e || typeof e !== 'object') return apiError('unexpected_response', 'The card vault answered unexpectedly.');
		const out = {
			type: typeof e.type === 'string' ? e.type : 'api_error',
			code: typeof e.code === 'string' ? e.code : null,
			message: typeof e.message === 'string' ? e.message : 'The card could not be saved.',
			param: typeof e.param === 'string' ? e.param : null,
		};
		if (typeof e.decline_code === 'string') out.decline_code = e.decline_code;
		return out;
	}

	const FIELD_OF_PARAM = { number: 'number', exp_month: 'exp', exp_year: 'exp', cvc: 'cvc', name: 'name' };

	async function tokenize(id) {
		if (disabled) return;
		if (busy) {
			if (id !== null) toParent({ type: 'strongroom:result', id, error: apiError('busy', 'The card is already being submitted.') });
			return;
		}
		for (const k of Object.keys(touched)) touched[k] = true;
		showError('form', null);
		const state = validate(true);
		reportChange(state);
		if (!state.complete) {
			const field = FIELD_OF_PARAM[state.error?.param] ?? 'number';
			fields[field].focus();
			toParent({ type: 'strongroom:result', id, error: state.error ?? err('incomplete_number', 'Your card number is incomplete.', 'number') });
			return;
		}
		busy = true;
		form.classList.add('sr-busy');
		form.setAttribute('aria-busy', 'true');
		let result;
		try {
			const card = {
				number: digitsOf(fields.number.value),
				exp_month: state.expiry.month,
				exp_year: state.expiry.year,
				cvc: digitsOf(fields.cvc.value),
				nonce: b64url(crypto.getRandomValues(new Uint8Array(16))),
				iat: Math.floor(Date.now() / 1000),
			};
			const name = fields.name.value.trim();
			if (name) card.name = name;
			const jwe = await encryptCard(card);
			let r;
			try {
				r = await fetch('/v1/tokens', {
					method: 'POST',
					headers: { Authorization: `Bearer ${publishableKey}`, 'Content-Type': 'application/jose' },
					body: jwe,
					credentials: 'omit',
					cache: 'no-store',
					referrerPolicy: 'no-referrer',
				});
			} catch {
				throw apiError('network_error', 'The card vault could not be reached; check the connection and try again.');
			}
			let body = null;
			try {
				body = await r.json();
			} catch {
				/* not JSON: reported below */
			}
			if (r.status === 201 && body && typeof body.id === 'string' && body.card) {
				result = {
					token: {
						id: body.id,
						card: {
							brand: String(body.card.brand),
							last4: String(body.card.last4),
							exp_month: Number(body.card.exp_month),
							exp_year: Number(body.card.exp_year),
						},
					},
				};
			} else {
				result = { error: cleanError(body && body.error) };
			}
		} catch (e) {
			result = { error: e && e.type ? e : apiError('encryption_failed', 'The card could not be encrypted in this browser.') };
		} finally {
			busy = false;
			form.classList.remove('sr-busy');
			form.removeAttribute('aria-busy');
		}
		if (result.token) {
			clearFields();
		} else {
			const field = FIELD_OF_PARAM[result.error.param];
			if (field) {
				showError(field, result.error);
				fields[field].focus();
			} else {
				showError('form', result.error);
			}
		}
		toParent({ type: 'strongroom:result', id, ...result });
	}

	// ------------------------------------------------------------ style

	// The few properties a checkout may set, as plain values (no url(),
	// no expressions): enough to match its look, too little to restyle the
	// form into something that misleads.
	const STYLE_VARS = { color: '--sr-color', invalidColor: '--sr-invalid', borderColor: '--sr-border', focusColor: '--sr-focus', backgroundColor: '--sr-bg', mutedColor: '--sr-muted' };
	const STYLE_PROPS = { fontFamily: 'font-family', fontSize: 'font-size' };
	const SAFE_VALUE = /^[#(),.%\w\s'"-]{1,80}$/;

	function applyStyle(style) {
		if (!style || typeof style !== 'object') return;
		for (const [k, v] of Object.entries(style)) {
			if (typeof v !== 'string' || !SAFE_VALUE.test(v) || /url|expression|image/i.test(v)) continue;
			if (STYLE_VARS[k]) document.documentElement.style.setProperty(STYLE_VARS[k], v);
			else if (STYLE_PROPS[k]) document.body.style.setProperty(STYLE_PROPS[k], v);
		}
	}

	// ------------------------------------------------------------ messaging

	function toParent(msg) {
		if (!disabled) window.parent.postMessage(msg, parentOrigin);
	}

	function disable(message) {
		disabled = true;
		for (const el of Object.values(fields)) el.disabled = true;
		errorEls.form.textContent = message;
	}

	// The vault checked ?origin= against platform_origins and the browser
	// checked frame-ancestors; where the browser tells us who actually
	// frames us, refuse a parent that claims another listed origin.
	const ancestors = window.location.ancestorOrigins;
	if (window.parent === window || !parentOrigin || !publishableKey) {
		disable('This card form works only inside a checkout page.');
	} else if (ancestors && ancestors.length > 0 && ancestors[0] !== parentOrigin) {
		disable('This card form is embedded by an unexpected page.');
	}

	window.addEventListener('message', (ev) => {
		if (ev.origin !== parentOrigin || ev.source !== window.parent) return;
		const msg = ev.data;
		if (!msg || typeof msg !== 'object' || typeof msg.type !== 'string') return;
		switch (msg.type) {
		case 'strongroom:submit':
			tokenize(typeof msg.id === 'number' || typeof msg.id === 'string' ? msg.id : null);
			break;
		case 'strongroom:clear':
			clearFields();
			break;
		case 'strongroom:focus':
			fields.number.focus();
			break;
		case 'strongroom:style':
			applyStyle(msg.style);
			break;
		default:
			break;
		}
	});

	if (typeof ResizeObserver === 'function') {
		let last = 0;
		new ResizeObserver(() => {
			const h = Math.ceil(document.documentElement.getBoundingClientRect().height);
			if (h !== last) {
				last = h;
				toParent({ type: 'strongroom:resize', height: h });
			}
		}).observe(document.documentElement);
	}

	toParent({ type: 'strongroom:ready' });
})();
