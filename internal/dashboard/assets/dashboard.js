// Herald dashboard: copy buttons and typed confirmations. Every page works
// without this script; it only adds conveniences.
(function () {
  'use strict';

  // copyText uses the Clipboard API where the page is a secure context and
  // falls back to a selection copy on the plain-HTTP admin listener.
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement('textarea');
      area.value = text;
      area.setAttribute('readonly', '');
      area.style.position = 'fixed';
      area.style.opacity = '0';
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
      document.body.removeChild(area);
      if (ok) { resolve(); } else { reject(new Error('copy failed')); }
    });
  }

  function setUpCopyButtons() {
    var buttons = document.querySelectorAll('button.copy[data-copy]');
    buttons.forEach(function (button) {
      var target = document.getElementById(button.getAttribute('data-copy'));
      if (!target) { return; }
      button.hidden = false;
      button.addEventListener('click', function () {
        copyText(target.textContent).then(function () {
          button.textContent = 'Copied';
        }, function () {
          button.textContent = 'Copy failed';
        }).then(function () {
          setTimeout(function () { button.textContent = 'Copy'; }, 1500);
        });
      });
    });
  }

  // setUpConfirmations keeps a delete button disabled until the id is typed;
  // the server checks it again.
  function setUpConfirmations() {
    document.querySelectorAll('input[data-confirm]').forEach(function (input) {
      var form = input.form;
      var submit = form && form.querySelector('button[type=submit]');
      if (!submit) { return; }
      var update = function () {
        submit.disabled = input.value.trim() !== input.getAttribute('data-confirm');
      };
      input.addEventListener('input', update);
      update();
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    setUpCopyButtons();
    setUpConfirmations();
  });
}());
