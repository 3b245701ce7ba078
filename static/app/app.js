/* Catalog Studio embedded UI. Plain JavaScript, no build step.
   - Every call to /app/api gets a fresh session token (shopify.idToken(), or in dev mode the
     token minted for the dev shop) and is retried once on 401 + X-Shopify-Retry-Invalid-Session-Request.
   - Data is put on the page with textContent and DOM nodes only: never innerHTML. */
(function () {
  'use strict';

  var body = document.body;
  var PAGE = body.dataset.page;
  var devToken = body.dataset.devToken || null;
  var devTokenAt = Date.now();
  var DEV_TOKEN_MAX_AGE = 40000; // tokens live 60 s; refresh well before

  function bridge() { return window.shopify && typeof window.shopify.idToken === 'function' ? window.shopify : null; }

  // ------------------------------------------------------------------ API

  function ApiError(status, message, data) { this.status = status; this.message = message; this.data = data; }

  function sessionToken(fresh) {
    var sb = bridge();
    if (sb) return Promise.resolve(sb.idToken());
    if (devToken && !fresh && Date.now() - devTokenAt < DEV_TOKEN_MAX_AGE) return Promise.resolve(devToken);
    return fetch('/app/api/dev/session-token', { cache: 'no-store', headers: { Accept: 'application/json' } })
      .then(function (r) {
        if (!r.ok) throw new ApiError(r.status, 'Your session has ended. Open the app from the Shopify admin again.');
        return r.json();
      })
      .then(function (d) { devToken = d.token; devTokenAt = Date.now(); return devToken; });
  }

  function messageOf(data, status) {
    if (data && typeof data.detail === 'string') return data.detail;
    if (data && Array.isArray(data.detail) && data.detail.length) return data.detail[0].msg;
    if (status === 404) return 'Not found.';
    if (status >= 500) return 'Something went wrong on our side. Try again in a moment.';
    return 'The request failed (' + status + ').';
  }

  function api(method, path, payload, retried) {
    return sessionToken(retried).then(function (token) {
      var init = { method: method, cache: 'no-store', headers: { Authorization: 'Bearer ' + token, Accept: 'application/json' } };
      if (payload !== undefined) { init.headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(payload); }
      return fetch(path, init).catch(function () {
        throw new ApiError(0, 'Could not reach Catalog Studio. Check your connection and try again.');
      });
    }).then(function (res) {
      if (res.status === 401 && !retried && res.headers.get('X-Shopify-Retry-Invalid-Session-Request') === '1') {
        devToken = null;
        return api(method, path, payload, true);
      }
      return res.json().catch(function () { return null; }).then(function (data) {
        if (!res.ok) throw new ApiError(res.status, messageOf(data, res.status), data);
        return data;
      });
    });
  }

  // ------------------------------------------------------------------ DOM

  function h(tag, props) {
    var node = document.createElement(tag);
    var key, value;
    for (key in props || {}) {
      value = props[key];
      if (value === null || value === undefined || value === false) continue;
      if (key === 'text') node.textContent = value;
      else if (key === 'class') node.className = value;
      else if (key.slice(0, 2) === 'on') node.addEventListener(key.slice(2), value);
      else if (key === 'value' || key === 'checked' || key === 'selected' || key === 'disabled' || key === 'hidden') node[key] = value;
      else node.setAttribute(key, value === true ? '' : value);
    }
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }
  function append(node, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(node, c); }); return; }
    node.appendChild(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
  }
  function $(id) { return document.getElementById(id); }
  function fill(container, child) {
    container.replaceChildren();
    append(container, child);
    container.removeAttribute('aria-busy');
  }
  function state(text, isError) { return h('p', { class: isError ? 'state state-error' : 'state', role: isError ? 'alert' : null, text: text }); }

  function toast(message, isError) {
    var sb = window.shopify;
    if (sb && sb.toast && typeof sb.toast.show === 'function') { sb.toast.show(message, { duration: 5000, isError: !!isError }); return; }
    var region = $('toasts');
    var item = h('div', { class: isError ? 'toast toast-error' : 'toast', text: message });
    region.appendChild(item);
    setTimeout(function () { item.remove(); }, 5000);
  }
  function fail(err) { toast(err && err.message ? err.message : 'Something went wrong.', true); }

  function badge(text, tone) { return h('span', { class: 'badge' + (tone ? ' badge-' + tone : ''), text: text }); }
  var STATUS = { NOT_STARTED: ['Queued', 'info'], IN_PROGRESS: ['In progress', 'attention'], SUCCESS: ['Done', 'success'], FAILURE: ['Failed', 'critical'] };
  function statusBadge(s) { var x = STATUS[s] || [s, '']; return badge(x[0], x[1]); }
  var MODEL_STATUS = { pending: ['Queued', 'info'], generating: ['Generating', 'attention'], training: ['Training', 'attention'], ready: ['Ready', 'success'], failed: ['Failed', 'critical'] };
  function plural(n, one, many) { return n + ' ' + (n === 1 ? one : many); }
  function when(iso) {
    if (!iso) return '';
    var d = new Date(iso);
    return d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  }

  // Internal navigation: carry a fresh session token so the next document needs no bounce.
  function navigate(href) {
    sessionToken(false).then(function (token) {
      var url = new URL(href, location.href);
      url.searchParams.set('id_token', token);
      location.assign(url.toString());
    }).catch(function () { location.assign(href); });
  }
  document.addEventListener('click', function (event) {
    var a = event.target.closest && event.target.closest('a[data-nav]');
    if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    navigate(a.getAttribute('href'));
  });
  function appLink(path, text) {
    var params = new URLSearchParams(location.search);
    params.delete('id_token');
    var qs = params.toString();
    return h('a', { href: path + (qs ? '?' + qs : ''), 'data-nav': true, text: text });
  }
  function appPath(path) { var p = new URLSearchParams(location.search); p.delete('id_token'); var q = p.toString(); return path + (q ? '?' + q : ''); }

  // ------------------------------------------------------------------ forms

  function clearErrors(form) {
    form.querySelectorAll('.error').forEach(function (e) { e.textContent = ''; });
    form.querySelectorAll('[aria-invalid]').forEach(function (e) { e.removeAttribute('aria-invalid'); });
  }
  function fieldError(form, name, message) {
    var slot = $('err-' + name) || $('err-form');
    slot.textContent = message;
    var input = form.querySelector('[name="' + name + '"]');
    if (input) {
      input.setAttribute('aria-invalid', 'true');
      var described = (input.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
      if (described.indexOf(slot.id) < 0) { described.push(slot.id); input.setAttribute('aria-describedby', described.join(' ')); }
    }
    return input;
  }
  function showErrors(form, err) {
    var first = null;
    if (err && err.status === 422 && err.data && Array.isArray(err.data.detail)) {
      err.data.detail.forEach(function (e) {
        var loc = e.loc || [];
        var name = loc.length > 1 ? loc[1] : 'form';
        var input = fieldError(form, String(name), e.msg);
        first = first || input;
      });
    } else {
      $('err-form').textContent = err && err.message ? err.message : 'Something went wrong.';
    }
    if (first) first.focus();
  }

  function fillGenerationModels(select, models, selected, help) {
    var capability = select.dataset.capability;
    var usable = models.filter(function (m) { return !capability || !m.capabilities || m.capabilities.indexOf(capability) >= 0; });
    select.replaceChildren();
    if (select.dataset.optional === 'true') select.appendChild(h('option', { value: '', text: 'Recommended' }));
    usable.forEach(function (m) {
      select.appendChild(h('option', { value: m.id, text: m.label + (m.recommended ? ' (recommended)' : '') + (m.beta ? ' (beta)' : ''), selected: m.id === selected }));
    });
    if (!usable.length) select.appendChild(h('option', { value: '', text: 'No generation model is available' }));
    function explain() {
      if (!help) return;
      var m = usable.filter(function (x) { return x.id === select.value; })[0];
      help.textContent = m && m.preview_renderer ? 'The preview renderer draws a quick mock-up for trying the app out. It is not AI-generated imagery.' : '';
    }
    select.addEventListener('change', explain);
    explain();
    return usable;
  }

  // ------------------------------------------------------------------ jobs (shared)

  function jobRow(job) {
    var bar = h('div', { class: 'progress', role: 'progressbar', 'aria-label': 'Progress', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(job.progress), 'data-status': job.status },
      h('span', { style: 'width:' + job.progress + '%' }));
    var title = job.workflow_label + (job.catalog_model_name ? ' · ' + job.catalog_model_name : '');
    var meta = [when(job.created_at)];
    if (job.product_count) meta.push(plural(job.product_count, 'product', 'products'));
    if (job.results) meta.push(plural(job.results, 'image', 'images'));
    var li = h('li', { class: 'row', 'data-job': job.id },
      h('div', null, h('div', { class: 'row-title', text: title }), h('div', { class: 'row-meta', text: meta.join(' · ') })),
      h('div', { class: 'row-side' }, h('span', { class: 'js-badge' }, statusBadge(job.status)),
        job.reviewable ? h('a', { class: 'btn btn-sm js-review', href: appPath('/app/review/' + job.id), 'data-nav': true, hidden: job.status !== 'SUCCESS', text: 'Review' }) : null,
        job.terminal ? null : h('button', { type: 'button', class: 'btn btn-sm btn-critical js-cancel', text: 'Cancel', onclick: function (e) {
          var button = e.currentTarget;
          button.disabled = true;
          api('POST', '/app/api/jobs/' + encodeURIComponent(job.id) + '/cancel').then(function (done) {
            updateJobRow(li, done); toast('Job cancelled' + (done.credits_refunded ? '; ' + plural(done.credits_refunded, 'credit', 'credits') + ' refunded' : ''));
          }).catch(function (err) { button.disabled = false; fail(err); });
        } })),
      h('div', { class: 'row-detail' },
        h('div', { class: 'row-meta js-stage', text: job.stage_label }), bar,
        h('p', { class: 'failure js-failure', hidden: !job.failure, text: job.failure || '' }),
        h('p', { class: 'row-meta js-credits', text: creditsText(job) })));
    return li;
  }
  function creditsText(job) {
    var text = job.credits_cost ? plural(job.credits_cost, 'credit', 'credits') + ' charged' : 'No credits charged';
    if (job.credits_refunded) text += ' · ' + plural(job.credits_refunded, 'credit', 'credits') + ' refunded';
    return text;
  }
  function updateJobRow(li, job) {
    li.querySelector('.js-badge').replaceChildren(statusBadge(job.status));
    li.querySelector('.js-stage').textContent = job.stage_label;
    var bar = li.querySelector('.progress');
    bar.setAttribute('aria-valuenow', String(job.progress));
    bar.dataset.status = job.status;
    bar.firstChild.style.width = job.progress + '%';
    var failure = li.querySelector('.js-failure');
    failure.hidden = !job.failure; failure.textContent = job.failure || '';
    var credits = li.querySelector('.js-credits');
    credits.textContent = creditsText(job);
    credits.classList.toggle('refund', !!job.credits_refunded);
    var review = li.querySelector('.js-review');
    if (review) review.hidden = job.status !== 'SUCCESS';
    var cancel = li.querySelector('.js-cancel');
    if (cancel && job.terminal) cancel.remove();
  }

  // Poll /jobs/progress for the jobs that are still running: 1 s, then backing off ×1.6 up to
  // 15 s while nothing changes; back to 1 s on any change. Paused while the tab is hidden.
  function Poller(getIds, onJobs) {
    var delay = 1000, timer = null, stopped = false, last = '';
    function schedule() {
      if (stopped) return;
      clearTimeout(timer);
      timer = setTimeout(tick, delay);
    }
    function tick() {
      var ids = getIds();
      if (!ids.length || stopped) { timer = null; return; }
      if (document.hidden) { schedule(); return; }
      api('GET', '/app/api/jobs/progress?ids=' + encodeURIComponent(ids.join(','))).then(function (data) {
        var snapshot = JSON.stringify(data.jobs);
        delay = snapshot === last ? Math.min(15000, Math.round(delay * 1.6)) : 1000;
        last = snapshot;
        onJobs(data);
        schedule();
      }).catch(function () { delay = Math.min(30000, delay * 2); schedule(); });
    }
    return { kick: function () { delay = 1000; if (!timer) schedule(); }, stop: function () { stopped = true; clearTimeout(timer); } };
  }

  // ------------------------------------------------------------------ pages

  var pages = {};

  pages.home = function () {
    api('GET', '/app/api/overview').then(function (data) {
      var balance = $('balance');
      balance.textContent = String(data.balance);
      balance.removeAttribute('data-state');
      document.querySelectorAll('#steps li').forEach(function (li) {
        if (data.getting_started[li.dataset.step]) { li.classList.add('done'); li.appendChild(h('span', { class: 'visually-hidden', text: ' (done)' })); }
      });
      fill($('recent'), data.recent_jobs.length
        ? h('ul', { class: 'list' }, data.recent_jobs.map(jobRow))
        : state('No jobs yet. Create a catalog model, then shoot your first products.'));
    }).catch(function (err) { fill($('recent'), state(err.message, true)); $('balance').textContent = '—'; });
  };

  pages.models = function () {
    var form = $('model-form');
    var list = $('models');
    var poll = null;
    function render(models) {
      if (!models.length) { fill(list, state('No catalog models yet. Describe your first model with the form.')); return; }
      fill(list, h('ul', { class: 'models list' }, models.map(function (m) {
        var s = MODEL_STATUS[m.status] || [m.status, ''];
        var spec = [m.gender === 'MALE' ? 'Male' : 'Female', m.age_range, m.body_type, m.ethnicity].filter(Boolean).join(' · ');
        return h('li', { class: 'model', 'data-model': m.id },
          m.portrait_url ? h('img', { class: 'portrait', src: m.portrait_url, alt: 'Portrait of ' + m.display_name, width: '200', height: '300', loading: 'lazy', decoding: 'async' })
            : h('div', { class: 'portrait portrait-empty', text: m.status === 'failed' ? 'No portrait' : 'Portrait on its way…' }),
          h('div', { class: 'model-body' }, h('span', { class: 'row-title', text: m.display_name }),
            h('div', { class: 'row-meta', text: spec }),
            h('div', { class: 'decide' }, badge(s[0], s[1]), m.preview_renderer ? badge('Preview renderer', 'preview') : null),
            m.error ? h('p', { class: 'failure', text: m.error }) : null));
      })));
    }
    function load() {
      return api('GET', '/app/api/catalog-models').then(function (data) {
        render(data.catalog_models);
        var busy = data.catalog_models.some(function (m) { return m.status !== 'ready' && m.status !== 'failed'; });
        if (busy) { poll = Math.min(15000, (poll || 1000) * 1.6); setTimeout(load, poll); } else { poll = null; }
      }).catch(function (err) { fill(list, state(err.message, true)); });
    }
    load();
    api('GET', '/app/api/generation-models').then(function (data) {
      fillGenerationModels($('f-image_model'), data.generation_models, null, $('h-image_model'));
      quote();
    }).catch(fail);
    function quote() {
      api('POST', '/app/api/quote', { workflow: 'model-generator', image_model: $('f-image_model').value || null })
        .then(function (q) { $('model-cost').textContent = 'Costs ' + plural(q.credits_cost, 'credit', 'credits') + ' · balance ' + q.balance; })
        .catch(function () { $('model-cost').textContent = ''; });
    }
    $('f-image_model').addEventListener('change', quote);

    form.addEventListener('submit', function (event) {
      event.preventDefault();
      clearErrors(form);
      var data = new FormData(form);
      var payload = {
        display_name: String(data.get('display_name') || '').trim(),
        gender: data.get('gender'),
        ethnicity: String(data.get('ethnicity') || '').trim(),
        body_type: data.get('body_type'),
        age_range: data.get('age_range'),
        image_model: data.get('image_model') || null,
        resolution: data.get('resolution') || null,
        aspect_ratio: data.get('aspect_ratio') || null,
        seed: null
      };
      var first = null;
      ['ethnicity', 'body_type', 'age_range'].forEach(function (name) {
        if (!payload[name]) { var input = fieldError(form, name, 'This field is required.'); first = first || input; }
      });
      var seed = String(data.get('seed') || '').trim();
      if (seed) {
        if (!/^[0-9]{1,18}$/.test(seed)) { var seedInput = fieldError(form, 'seed', 'Use a whole number of 0 or more.'); first = first || seedInput; }
        else payload.seed = Number(seed);
      }
      if (first) { first.focus(); return; }
      var button = form.querySelector('button[type=submit]');
      button.disabled = true;
      api('POST', '/app/api/catalog-models', payload).then(function (res) {
        toast('Creating ' + res.display_name + ' · ' + plural(res.credits_cost, 'credit', 'credits'));
        form.reset();
        quote();
        load();
      }).catch(function (err) { showErrors(form, err); }).then(function () { button.disabled = false; });
    });
  };

  pages.shoot = function () {
    var form = $('shoot-form');
    var selected = []; // {id, title, image_url}
    var pickerState = { query: '', after: null, before: null, page: null, chosen: {} };
    var quoteTimer = null;

    function renderSelected() {
      var box = $('selected');
      if (!selected.length) { box.replaceChildren(state('No products selected yet. Choose the products to shoot on your catalog model.')); }
      else {
        box.replaceChildren(h('ul', { class: 'selected' }, selected.map(function (p) {
          return h('li', null,
            p.image_url ? h('img', { class: 'thumb', src: p.image_url, alt: '', width: '40', height: '40' }) : h('span', { class: 'thumb' }),
            h('span', { class: 'row-title', text: p.title || p.id }),
            h('button', { class: 'btn btn-sm btn-plain', type: 'button', 'aria-label': 'Remove ' + (p.title || p.id), text: 'Remove',
              onclick: function () { selected = selected.filter(function (x) { return x.id !== p.id; }); renderSelected(); } }));
        })));
      }
      $('pick-products').textContent = selected.length ? 'Change products' : 'Select products';
      requestQuote();
    }

    var quoteSeq = 0;
    function requestQuote() {
      clearTimeout(quoteTimer);
      quoteTimer = setTimeout(function () {
        var seq = ++quoteSeq;
        var box = $('cost');
        if (!selected.length) { box.replaceChildren(h('span', { class: 'muted', text: 'Select products to see the cost.' })); return; }
        api('POST', '/app/api/quote', { workflow: 'catalog-shoot', product_count: selected.length,
          num_images: Number($('f-num_images').value), image_model: $('f-image_model').value || null })
          .then(function (q) {
            if (seq !== quoteSeq) return;
            box.replaceChildren(
              h('strong', { text: plural(q.credits_cost, 'credit', 'credits') }),
              h('span', { class: 'muted', text: ' for ' + plural(selected.length * Number($('f-num_images').value), 'image', 'images') + ' · balance ' + q.balance }),
              q.affordable ? null : h('p', { class: 'failure', text: 'Your balance does not cover this shoot.' }));
          }).catch(function (err) { box.replaceChildren(h('span', { class: 'failure', text: err.message })); });
      }, 150);
    }

    api('GET', '/app/api/catalog-models').then(function (data) {
      var select = $('f-catalog_model_id');
      var ready = data.catalog_models.filter(function (m) { return m.status === 'ready'; });
      select.replaceChildren();
      if (!ready.length) {
        select.appendChild(h('option', { value: '', text: 'No ready catalog model' }));
        var help = $('h-catalog_model_id');
        help.replaceChildren('Create one first: ', appLink('/app/models', 'Catalog models'));
        return;
      }
      ready.forEach(function (m) { select.appendChild(h('option', { value: m.id, text: m.display_name })); });
      return api('GET', '/app/api/settings').then(function (s) { if (s.default_catalog_model_id) select.value = s.default_catalog_model_id;
        if (s.publish_mode) form.querySelector('input[name=publish][value="' + s.publish_mode + '"]').checked = true; });
    }).catch(fail);
    api('GET', '/app/api/generation-models').then(function (data) {
      fillGenerationModels($('f-image_model'), data.generation_models, null, $('h-image_model'));
      requestQuote();
    }).catch(fail);
    $('f-image_model').addEventListener('change', requestQuote);
    $('f-num_images').addEventListener('change', requestQuote);

    // Product selection: App Bridge's resource picker when it is there, else our own.
    $('pick-products').addEventListener('click', function () {
      var sb = window.shopify;
      if (sb && typeof sb.resourcePicker === 'function') {
        sb.resourcePicker({ type: 'product', action: 'select', multiple: true, selectionIds: selected.map(function (p) { return { id: p.id }; }) })
          .then(function (picked) {
            if (!picked) return; // cancelled
            selected = picked.map(function (p) {
              var image = (p.images && p.images[0]) || p.featuredImage || null;
              return { id: p.id, title: p.title, image_url: image ? (image.originalSrc || image.url || null) : null };
            });
            renderSelected();
          }).catch(fail);
        return;
      }
      openPicker();
    });

    var dialog = $('picker');
    function openPicker() {
      pickerState.chosen = {};
      selected.forEach(function (p) { pickerState.chosen[p.id] = p; });
      $('picker-search').value = pickerState.query;
      loadPicker(null, null);
      if (typeof dialog.showModal === 'function') dialog.showModal(); else dialog.setAttribute('open', '');
      $('picker-search').focus();
    }
    function countChosen() { var n = Object.keys(pickerState.chosen).length; $('picker-count').textContent = plural(n, 'product', 'products') + ' selected'; }
    var pickerSeq = 0;
    function loadPicker(after, before) {
      var seq = ++pickerSeq; // answers can arrive out of order: only the latest request renders
      var results = $('picker-results');
      results.setAttribute('aria-busy', 'true');
      if (!results.firstChild) results.appendChild(state('Loading products…'));
      var params = new URLSearchParams();
      if (pickerState.query) params.set('query', pickerState.query);
      if (after) params.set('after', after);
      if (before) params.set('before', before);
      api('GET', '/app/api/products?' + params.toString()).then(function (data) {
        if (seq !== pickerSeq) return;
        pickerState.page = data.page_info;
        $('picker-prev').disabled = !data.page_info.has_previous;
        $('picker-next').disabled = !data.page_info.has_next;
        fill(results, data.products.length ? h('div', { role: 'group', 'aria-label': 'Products' }, data.products.map(function (p) {
          return h('label', { class: 'pick' },
            h('input', { type: 'checkbox', value: p.id, checked: !!pickerState.chosen[p.id], onchange: function (e) {
              if (e.target.checked) pickerState.chosen[p.id] = { id: p.id, title: p.title, image_url: p.image_url };
              else delete pickerState.chosen[p.id];
              countChosen();
            } }),
            p.image_url ? h('img', { class: 'thumb', src: p.image_url, alt: '', width: '40', height: '40' }) : h('span', { class: 'thumb' }),
            h('span', { class: 'row-title', text: p.title }));
        })) : state(pickerState.query ? 'No products match “' + pickerState.query + '”.' : 'This shop has no products yet.'));
        countChosen();
      }).catch(function (err) { if (seq === pickerSeq) fill(results, state(err.message, true)); });
    }
    var searchTimer = null;
    $('picker-search').addEventListener('input', function (e) {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(function () { pickerState.query = e.target.value.trim(); loadPicker(null, null); }, 250);
    });
    $('picker-search').addEventListener('keydown', function (e) { if (e.key === 'Enter') e.preventDefault(); });
    $('picker-next').addEventListener('click', function () { loadPicker(pickerState.page && pickerState.page.end_cursor, null); });
    $('picker-prev').addEventListener('click', function () { loadPicker(null, pickerState.page && pickerState.page.start_cursor); });
    dialog.addEventListener('close', function () {
      if (dialog.returnValue === 'ok') {
        selected = Object.keys(pickerState.chosen).map(function (id) { return pickerState.chosen[id]; });
        renderSelected();
      }
      $('pick-products').focus();
    });

    form.addEventListener('submit', function (event) {
      event.preventDefault();
      clearErrors(form);
      var first = null;
      if (!selected.length) { $('err-product_ids').textContent = 'Select at least one product.'; first = $('pick-products'); }
      if (!$('f-catalog_model_id').value) { var modelInput = fieldError(form, 'catalog_model_id', 'Choose a ready catalog model.'); first = first || modelInput; }
      if (first) { first.focus(); return; }
      var button = $('submit-shoot');
      button.disabled = true;
      api('POST', '/app/api/shoots', {
        product_ids: selected.map(function (p) { return p.id; }),
        catalog_model_id: $('f-catalog_model_id').value,
        image_model: $('f-image_model').value || null,
        num_images: Number($('f-num_images').value),
        publish: form.querySelector('input[name=publish]:checked').value
      }).then(function (job) {
        toast('Shoot started · ' + plural(job.credits_cost, 'credit', 'credits'));
        navigate(appPath('/app/jobs'));
      }).catch(function (err) {
        if (err.status === 422 && err.data && Array.isArray(err.data.detail)) {
          err.data.detail.forEach(function (e) { if (e.loc && e.loc[1] === 'product_ids') $('err-product_ids').textContent = e.msg; });
        }
        showErrors(form, err);
        button.disabled = false;
      });
    });
    renderSelected();
  };

  pages.jobs = function () {
    var container = $('jobs');
    var list = null, rows = {}, running = {};
    function add(jobs) {
      if (!list) { list = h('ul', { class: 'list' }); fill(container, list); }
      jobs.forEach(function (job) {
        var li = jobRow(job);
        rows[job.id] = li;
        if (!job.terminal) running[job.id] = true;
        list.appendChild(li);
      });
    }
    var poller = Poller(function () { return Object.keys(running); }, function (data) {
      $('balance').textContent = String(data.balance);
      data.jobs.forEach(function (job) {
        var li = rows[job.id];
        if (li) updateJobRow(li, job);
        if (job.terminal) {
          delete running[job.id];
          // The finished row has more to say (images made): redraw it from the full job.
          api('GET', '/app/api/jobs/' + encodeURIComponent(job.id)).then(function (full) {
            var old = rows[full.id];
            if (old) { rows[full.id] = jobRow(full); old.replaceWith(rows[full.id]); }
          }).catch(function () {});
          if (job.status === 'FAILURE') toast('A job failed' + (job.credits_refunded ? '; ' + plural(job.credits_refunded, 'credit was', 'credits were') + ' refunded' : ''), true);
        }
      });
    });
    var next = null;
    function load() {
      var url = '/app/api/jobs?limit=100' + (next ? '&before=' + encodeURIComponent(next) : '');
      return api('GET', url).then(function (data) {
        $('balance').textContent = String(data.balance);
        if (!data.jobs.length && !list) { fill(container, state('No jobs yet. Start a shoot to see its progress here.')); }
        else add(data.jobs);
        next = data.next_before;
        $('jobs-more').hidden = !next;
        poller.kick();
      });
    }
    load().catch(function (err) { fill(container, state(err.message, true)); });
    $('more').addEventListener('click', function () {
      var button = this;
      button.disabled = true;
      load().catch(fail).then(function () { button.disabled = false; });
    });
  };

  pages.review = function () {
    var jobId = body.dataset.jobId;
    var container = $('review');
    var cards = {}; // asset id -> {node, asset}
    var publishJob = null;

    function counts() {
      var approved = 0, published = 0;
      Object.keys(cards).forEach(function (id) {
        var a = cards[id].asset;
        if (a.review_state === 'approved' && !a.published) approved++;
        if (a.published) published++;
      });
      var publish = $('publish');
      var busy = publishJob && !publishJob.terminal;
      publish.disabled = !approved || busy;
      publish.textContent = approved ? 'Publish ' + plural(approved, 'approved image', 'approved images') : 'Publish approved';
      $('undo').hidden = !published;
      $('undo').disabled = !!busy;
    }

    function imageCard(asset, product) {
      var node = h('li', { class: 'image', 'data-asset': asset.id, 'data-state': asset.review_state });
      cards[asset.id] = { node: node, asset: asset, product: product, index: Object.keys(cards).length };
      drawCard(asset.id);
      return node;
    }
    function drawCard(id) {
      var card = cards[id], asset = card.asset, product = card.product;
      var name = product.title || 'this product';
      var locked = asset.published;
      var stateText = asset.published ? ['Published', 'success'] : asset.review_state === 'approved' ? ['Approved', 'success'] : asset.review_state === 'rejected' ? ['Rejected', 'critical'] : ['Needs review', 'attention'];
      if (asset.push_state === 'queued' || asset.push_state === 'uploaded' || asset.push_state === 'processing') stateText = ['Publishing…', 'info'];
      var altId = 'alt-' + asset.id, variantId = 'variant-' + asset.id;
      var variantSelect = h('select', { id: variantId, disabled: locked || !product.variants.length, onchange: function (e) { save(id, { variant_id: e.target.value || null }); } },
        h('option', { value: '', text: 'All variants' }),
        product.variants.map(function (v) { return h('option', { value: v.id, text: v.title, selected: v.id === asset.variant_id }); }));
      card.node.dataset.state = asset.review_state;
      card.node.replaceChildren(
        asset.url ? h('img', { src: asset.url, alt: asset.alt_text || ('Generated image of ' + name), width: String(asset.width), height: String(asset.height),
          // The first images are the page's largest paint: fetch them first, the rest when scrolled to.
          loading: card.index < 8 ? 'eager' : 'lazy', fetchpriority: card.index < 4 ? 'high' : null, decoding: 'async' })
          : h('div', { class: 'portrait portrait-empty', text: 'Held back by the automatic checks' }),
        h('div', { class: 'image-body' },
          h('div', null, badge(stateText[0], stateText[1])),
          h('div', { class: 'decide', role: 'group', 'aria-label': 'Decision for this image' },
            h('button', { type: 'button', class: 'btn btn-sm' + (asset.review_state === 'approved' ? ' btn-pressed' : ''), 'aria-pressed': String(asset.review_state === 'approved'), disabled: locked, text: 'Approve', onclick: function () { decide(id, asset.review_state === 'approved' ? 'pending' : 'approved'); } }),
            h('button', { type: 'button', class: 'btn btn-sm btn-critical' + (asset.review_state === 'rejected' ? ' btn-pressed' : ''), 'aria-pressed': String(asset.review_state === 'rejected'), disabled: locked, text: 'Reject', onclick: function () { decide(id, asset.review_state === 'rejected' ? 'pending' : 'rejected'); } }),
            h('button', { type: 'button', class: 'btn btn-sm', disabled: locked, text: 'Regenerate', onclick: function () { regenerate(id); } })),
          h('div', { class: 'field' }, h('label', { for: altId, text: 'Alt text' }),
            h('input', { id: altId, value: asset.alt_text, maxlength: '512', disabled: locked, placeholder: 'Describe the image for shoppers using screen readers',
              onchange: function (e) { save(id, { alt_text: e.target.value }); } })),
          h('div', { class: 'field' }, h('label', { for: variantId, text: 'Variant' }), variantSelect)));
    }
    function replaceAsset(asset) { var card = cards[asset.id]; if (!card) return; card.asset = asset; drawCard(asset.id); counts(); }
    function decide(id, state) {
      api('POST', '/app/api/assets/' + encodeURIComponent(id) + '/review', { state: state })
        .then(function (asset) {
          replaceAsset(asset);
          var focusOn = cards[id].node.querySelector(state === 'rejected' ? '.btn-critical' : '.decide .btn');
          if (focusOn) focusOn.focus();
        }).catch(fail);
    }
    function save(id, change) {
      api('PATCH', '/app/api/assets/' + encodeURIComponent(id), change)
        .then(function (asset) { cards[id].asset = asset; toast('Saved'); })
        .catch(function (err) { fail(err); drawCard(id); });
    }
    function regenerate(id) {
      api('POST', '/app/api/assets/' + encodeURIComponent(id) + '/regenerate').then(function (job) {
        toast('Regenerating · ' + plural(job.credits_cost, 'credit', 'credits') + '. The new image is a job of its own: review it from Jobs.');
        replaceAsset(Object.assign({}, cards[id].asset, { review_state: 'rejected' }));
      }).catch(fail);
    }

    function showPublish(job) {
      publishJob = job;
      var banner = $('publish-status');
      banner.hidden = false;
      banner.className = 'banner' + (job.status === 'FAILURE' ? ' banner-critical' : job.status === 'SUCCESS' ? ' banner-success' : '');
      var label = job.workflow === 'undo-push' ? 'Undo publish' : 'Publish';
      banner.textContent = job.terminal
        ? label + (job.status === 'SUCCESS' ? ' finished.' : ' failed: ' + (job.failure || ''))
        : label + ': ' + job.stage_label + ' (' + job.progress + '%)';
      counts();
    }
    var watched = {};
    var poller = Poller(function () { return Object.keys(watched); }, function (data) {
      var reload = false;
      data.jobs.forEach(function (job) {
        var kind = watched[job.id];
        if (kind === 'publish') showPublish(Object.assign({}, publishJob, job));
        if (job.terminal) {
          delete watched[job.id];
          reload = true;
          if (kind === 'publish') toast(job.status === 'SUCCESS' ? (publishJob.workflow === 'undo-push' ? 'Images removed from your products' : 'Images published to your products') : (job.failure || 'Publishing failed'), job.status !== 'SUCCESS');
        }
      });
      if (reload) load(true);
    });
    function watch(job, kind) { watched[job.id] = kind || 'regenerate'; poller.kick(); }

    function load(refresh) {
      return api('GET', '/app/api/jobs/' + encodeURIComponent(jobId) + '/review').then(function (data) {
        $('job-label').textContent = data.job.workflow_label + (data.job.catalog_model_name ? ' · ' + data.job.catalog_model_name : '');
        if (data.publish_jobs.length) {
          var latest = data.publish_jobs[0];
          showPublish(latest);
          if (!latest.terminal) watch(latest, 'publish');
        }
        if (refresh) {
          data.products.forEach(function (p) { p.images.forEach(function (a) {
            if (cards[a.id]) { cards[a.id].asset = a; drawCard(a.id); }
            else { var grid = container.querySelector('[data-product="' + CSS.escape(p.id) + '"] .images'); if (grid) grid.appendChild(imageCard(a, p)); }
          }); });
          counts();
          return;
        }
        var any = data.products.some(function (p) { return p.images.length; });
        if (!any) {
          fill(container, state(data.job.terminal ? 'This job produced no images.' + (data.job.failure ? ' ' + data.job.failure : '') : 'Images are still being generated. They will appear here when ready.'));
          if (!data.job.terminal) watch(data.job);
          return;
        }
        fill(container, data.products.map(function (p) {
          var title = p.title || (p.missing ? 'Product no longer in Shopify' : p.id);
          return h('section', { class: 'product', 'data-product': p.id, 'aria-label': title },
            h('div', { class: 'product-head' },
              p.image_url ? h('img', { class: 'thumb', src: p.image_url, alt: '', width: '40', height: '40', loading: 'lazy', fetchpriority: 'low' }) : null,
              h('h2', { text: title }),
              h('span', { class: 'muted', text: plural(p.images.length, 'image', 'images') })),
            p.images.length ? h('ul', { class: 'images list' }, p.images.map(function (a) { return imageCard(a, p); }))
              : state('No image for this product.'));
        }));
        if (!data.variants_available) toast('Shopify did not answer; variants cannot be chosen right now.', true);
        counts();
      }).catch(function (err) { if (!refresh) fill(container, state(err.message, true)); else fail(err); });
    }

    $('publish').addEventListener('click', function () {
      var button = this;
      button.disabled = true;
      api('POST', '/app/api/jobs/' + encodeURIComponent(jobId) + '/publish', {}).then(function (job) {
        toast('Publishing to your products…');
        showPublish(job); watch(job, 'publish');
      }).catch(function (err) { fail(err); counts(); });
    });
    $('undo').addEventListener('click', function () {
      var button = this;
      button.disabled = true;
      api('POST', '/app/api/jobs/' + encodeURIComponent(jobId) + '/undo', {}).then(function (job) {
        toast('Removing the published images…');
        showPublish(job); watch(job, 'publish');
      }).catch(function (err) { fail(err); counts(); });
    });
    load(false);
  };

  pages.settings = function () {
    var form = $('settings-form');
    function apply(s) {
      $('f-auto_shoot').checked = s.auto_shoot;
      var cm = $('f-default_catalog_model_id');
      cm.replaceChildren();
      append(cm, [h('option', { value: '', text: s.catalog_models.length ? 'None' : 'No ready catalog model yet' }),
        s.catalog_models.map(function (m) { return h('option', { value: m.id, text: m.display_name, selected: m.id === s.default_catalog_model_id }); })]);
      var gm = $('f-default_generation_model_id');
      gm.dataset.optional = 'true';
      fillGenerationModels(gm, s.generation_models, s.default_generation_model_id, null);
      form.querySelector('input[name=publish_mode][value="' + s.publish_mode + '"]').checked = true;
      form.removeAttribute('aria-busy');
    }
    api('GET', '/app/api/settings').then(apply).catch(function (err) { $('err-form').textContent = err.message; });
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      clearErrors(form);
      var button = form.querySelector('button[type=submit]');
      button.disabled = true;
      api('PUT', '/app/api/settings', {
        auto_shoot: $('f-auto_shoot').checked,
        default_catalog_model_id: $('f-default_catalog_model_id').value || null,
        default_generation_model_id: $('f-default_generation_model_id').value || null,
        publish_mode: (form.querySelector('input[name=publish_mode]:checked') || {}).value || 'review'
      }).then(function (s) { apply(s); toast('Settings saved'); })
        .catch(function (err) { showErrors(form, err); }).then(function () { button.disabled = false; });
    });
  };

  if (pages[PAGE]) pages[PAGE]();
})();
