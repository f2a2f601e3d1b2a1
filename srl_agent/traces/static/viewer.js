// srl-agent trace viewer: filters, search, keyboard navigation and prompt panels. No network, no libraries.
// Page contract (written by srl_agent/traces/viewer.py and steps_view.py):
//   .unit[data-status]   what the status filter and the search show or hide (a trajectory, or one example)
//   tr[data-target=ID]   a table row that follows the visibility of the unit with that id
//   [data-nav=step]      what j/k move between; [data-group]: what n/p move between
//   button.show-prompt[data-prompt=KEY]  fills the next .prompt with the messages of KEY from #srl-prompts
(function () {
  "use strict";
  var units = Array.prototype.slice.call(document.querySelectorAll(".unit"));
  var search = document.getElementById("q");
  var shown = document.getElementById("shown");
  var filter = "all";
  var query = "";
  var texts = new Map();
  var selected = null;
  var prompts = null;

  function text(el) {
    if (!texts.has(el)) texts.set(el, el.textContent.toLowerCase());
    return texts.get(el);
  }

  function visible(el) {
    return !el.closest(".unit.hide");
  }

  function apply() {
    var n = 0;
    units.forEach(function (u) {
      var ok = (filter === "all" || u.dataset.status === filter) && (!query || text(u).indexOf(query) >= 0);
      u.classList.toggle("hide", !ok);
      if (ok) n += 1;
      var navs = u.dataset.nav === "step" ? [u] : u.querySelectorAll("[data-nav=step]");
      Array.prototype.forEach.call(navs, function (s) {
        s.classList.toggle("hit", !!query && ok && text(s).indexOf(query) >= 0);
      });
    });
    document.querySelectorAll("tr[data-target]").forEach(function (row) {
      var target = document.getElementById(row.dataset.target);
      row.classList.toggle("hide", !!target && target.classList.contains("hide"));
    });
    document.querySelectorAll(".filters button[data-filter]").forEach(function (b) {
      b.classList.toggle("on", b.dataset.filter === filter);
    });
    if (shown) shown.textContent = "showing " + n + " of " + units.length;
    if (selected && !visible(selected)) select(null);
  }

  function select(el) {
    if (selected) selected.classList.remove("sel");
    selected = el;
    if (!el) return;
    el.classList.add("sel");
    var box = el.tagName === "DETAILS" ? el.querySelector("summary") || el : el;
    box.scrollIntoView({block: "nearest"});
  }

  function steps() {
    return Array.prototype.filter.call(document.querySelectorAll("[data-nav=step]"), visible);
  }

  function moveStep(delta) {
    var list = steps();
    if (!list.length) return;
    var i = list.indexOf(selected);
    i = i < 0 ? (delta > 0 ? 0 : list.length - 1) : Math.min(list.length - 1, Math.max(0, i + delta));
    select(list[i]);
  }

  function moveGroup(delta) {
    var groups = Array.prototype.filter.call(document.querySelectorAll("[data-group]"), visible);
    if (!groups.length) return;
    var here = -1;
    groups.forEach(function (g, i) {
      if (selected && (g === selected || g.contains(selected) ||
          (g.compareDocumentPosition(selected) & Node.DOCUMENT_POSITION_FOLLOWING))) here = i;
    });
    var i = here < 0 ? (delta > 0 ? 0 : groups.length - 1) : Math.min(groups.length - 1, Math.max(0, here + delta));
    var g = groups[i];
    var first = g.dataset.nav === "step" ? g : g.querySelector("[data-nav=step]");
    select(first || g);
    g.scrollIntoView({block: "start"});
  }

  function promptData() {
    if (prompts === null) {
      var node = document.getElementById("srl-prompts");
      prompts = node ? JSON.parse(node.textContent) : {s: [], p: {}};
    }
    return prompts;
  }

  function togglePrompt(button) {
    var panel = button.nextElementSibling;
    if (!panel || !panel.classList.contains("prompt")) return;
    if (!panel.dataset.filled) {
      var data = promptData();
      (data.p[button.dataset.prompt] || []).forEach(function (m) {
        // The system prompt is long and the same at every step: it starts folded.
        var folded = m[0] === "system";
        var box = document.createElement(folded ? "details" : "div");
        box.className = "msg " + m[0];
        box.dataset.role = m[0];
        var body = document.createElement("pre");
        body.className = "content";
        body.textContent = m[1].map(function (k) { return data.s[k]; }).join("");
        var role = document.createElement(folded ? "summary" : "div");
        role.className = "role";
        role.textContent = m[0] + (folded ? " (" + body.textContent.length + " chars)" : "");
        box.appendChild(role);
        box.appendChild(body);
        panel.appendChild(box);
      });
      panel.dataset.filled = "1";
    }
    panel.hidden = !panel.hidden;
    button.classList.toggle("on", !panel.hidden);
  }

  document.querySelectorAll(".filters button[data-filter]").forEach(function (b) {
    b.addEventListener("click", function () { filter = b.dataset.filter; apply(); });
  });
  if (search) {
    var timer = null;
    search.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { query = search.value.trim().toLowerCase(); apply(); }, 120);
    });
  }
  document.querySelectorAll("button.show-prompt").forEach(function (b) {
    b.addEventListener("click", function (e) { e.preventDefault(); togglePrompt(b); });
  });
  document.querySelectorAll("button[data-expand]").forEach(function (b) {
    b.addEventListener("click", function () {
      var sec = document.getElementById(b.dataset.target), open = b.dataset.expand === "1";
      sec.querySelectorAll("details.step").forEach(function (d) { d.open = open; });
    });
  });
  document.querySelectorAll("[data-nav=step]").forEach(function (s) {
    s.addEventListener("click", function () { if (selected !== s) select(s); });
  });

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var typing = e.target && (e.target.tagName === "INPUT" || e.target.tagName === "TEXTAREA");
    if (typing) {
      if (e.key === "Escape") {
        search.value = "";
        query = "";
        apply();
        search.blur();
      } else if (e.key === "Enter") {
        search.blur();
        moveStep(1);
      }
      return;
    }
    var handled = true;
    switch (e.key) {
      case "j": moveStep(1); break;
      case "k": moveStep(-1); break;
      case "n": moveGroup(1); break;
      case "p": moveGroup(-1); break;
      case "/": if (search) { search.focus(); search.select(); } break;
      case "o": case "Enter":
        if (selected && selected.tagName === "DETAILS") selected.open = !selected.open; else handled = false;
        break;
      case "i":
        var button = selected && selected.querySelector("button.show-prompt");
        if (button) {
          if (selected.tagName === "DETAILS") selected.open = true;
          togglePrompt(button);
        }
        break;
      case "Escape": select(null); break;
      default: handled = false;
    }
    if (handled) e.preventDefault();
  });
  apply();
})();
