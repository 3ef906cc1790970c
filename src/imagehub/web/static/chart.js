// Small SVG charts of our own: bars for counts, lines for a series over days. Every chart
// has a text alternative (role="img" with a label); the numbers are also in a table beside.
"use strict";

const imagehubCharts = (() => {
  const SVG = "http://www.w3.org/2000/svg";
  const HEIGHT = 280;
  const PAD = { top: 16, right: 16, bottom: 40, left: 56 };

  function svg(tag, attributes = {}, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  // Round steps (1, 2, 5 x 10^n, never below 1: these are counts) from zero to `max`.
  function ticks(max, count = 5) {
    if (max <= 0) return [0, 1];
    const raw = Math.max(1, max / count);
    const magnitude = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
    const values = [];
    for (let v = 0; v < max + step; v += step) values.push(v);
    return values;
  }

  // Drawn at the width it is shown at (its container's, within 320-640), so a label of
  // 12 units reads at 12 px on a phone too instead of shrinking with a wide drawing.
  function widthOf(container) {
    return Math.round(Math.max(320, Math.min(640, container.clientWidth || 640)));
  }

  function frame(label, top, WIDTH) {
    const root = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": label });
    root.append(svg("title", {}, label));
    const levels = ticks(top);
    const highest = levels[levels.length - 1];
    const y = (value) => PAD.top + (HEIGHT - PAD.top - PAD.bottom) * (1 - value / highest);
    for (const level of levels) {
      root.append(svg("line", { class: "grid", x1: PAD.left, x2: WIDTH - PAD.right, y1: y(level), y2: y(level) }));
      root.append(svg("text", { x: PAD.left - 8, y: y(level) + 4, "text-anchor": "end" }, level.toLocaleString()));
    }
    root.append(svg("line", { class: "axis", x1: PAD.left, x2: WIDTH - PAD.right, y1: y(0), y2: y(0) }));
    return { root, y };
  }

  // items: [{label, value, className}]
  function bars(container, items, label) {
    const WIDTH = widthOf(container);
    const { root, y } = frame(label, Math.max(0, ...items.map((item) => item.value)), WIDTH);
    const slot = (WIDTH - PAD.left - PAD.right) / Math.max(1, items.length);
    items.forEach((item, index) => {
      const x = PAD.left + slot * index + slot * 0.2;
      const bar = svg("rect", {
        class: item.className || "", x, y: y(item.value), width: slot * 0.6,
        height: Math.max(0, y(0) - y(item.value)),
      });
      bar.append(svg("title", {}, `${item.label}: ${item.value}`));
      root.append(bar);
      root.append(svg("text", { x: x + slot * 0.3, y: y(item.value) - 6, "text-anchor": "middle" }, item.value.toLocaleString()));
      root.append(svg("text", { x: x + slot * 0.3, y: HEIGHT - PAD.bottom + 20, "text-anchor": "middle" }, item.label));
    });
    container.replaceChildren(root);
  }

  // The segment from point i-1 to point i: a reading only between two readings; estimated
  // if either end is; reconstructed otherwise.
  function segmentKind(kinds, i) {
    const [a, b] = [kinds[i - 1], kinds[i]];
    if (a === "estimated" || b === "estimated") return "estimated";
    return a === "scan" && b === "scan" ? "scan" : "reconstructed";
  }

  // Consecutive runs of labels whose kind is `kind`, as [first, last] index pairs.
  function runs(kinds, kind) {
    const found = [];
    kinds.forEach((k, i) => {
      if (k !== kind) return;
      if (found.length && found[found.length - 1][1] === i - 1) found[found.length - 1][1] = i;
      else found.push([i, i]);
    });
    return found;
  }

  // labels: the x values (dates); series: [{label, values}] drawn as series-0, -1, -2.
  // kinds (optional, one per label): "scan" (a reading: solid, with a dot), "reconstructed"
  // (dashed) or "estimated" (dashed over a shaded band); a line joins them across kinds.
  function lines(container, labels, series, label, kinds = null) {
    const top = Math.max(0, ...series.flatMap((s) => s.values.filter((v) => v !== null)));
    const WIDTH = widthOf(container);
    const { root, y } = frame(label, top, WIDTH);
    const span = WIDTH - PAD.left - PAD.right;
    const x = (index) => PAD.left + (labels.length > 1 ? (span * index) / (labels.length - 1) : span / 2);
    // About one date per 110 units on the axis (six at full width): the first and last
    // always, anchored inside the chart.
    const every = Math.max(1, Math.ceil(labels.length / Math.max(2, Math.floor(WIDTH / 110))));
    const last = labels.length - 1;
    labels.forEach((text, index) => {
      // The last date is anchored at its end: the one before it keeps a whole step away.
      const regular = index % every === 0 && (last - index >= every || index === 0);
      if (!regular && index !== last) return;
      const anchor = labels.length === 1 ? "middle" : index === 0 ? "start" : index === last ? "end" : "middle";
      root.append(svg("text", { x: x(index), y: HEIGHT - PAD.bottom + 20, "text-anchor": anchor }, text));
    });
    const kindOf = kinds || labels.map(() => "scan");
    const halfStep = labels.length > 1 ? span / (labels.length - 1) / 2 : span / 2;
    for (const [first, lastIndex] of runs(kindOf, "estimated")) {
      const band = svg("rect", {
        class: "estimated-band", x: Math.max(PAD.left, x(first) - halfStep), y: PAD.top,
        width: Math.max(2, x(lastIndex) - x(first) + 2 * halfStep), height: HEIGHT - PAD.top - PAD.bottom,
      });
      band.append(svg("title", {}, `estimated from ${labels[first]} to ${labels[lastIndex]}: GitHub gave no more of the list`));
      root.append(band);
    }
    series.forEach((line, n) => {
      // One polyline per run of segments of one kind; runs meet at their shared point.
      const at = (index) => `${x(index).toFixed(1)},${y(line.values[index]).toFixed(1)}`;
      let run = null;
      const flush = () => {
        if (run) root.append(svg("polyline", { class: `line series-${n} ${run.kind}`, points: run.points.join(" ") }));
        run = null;
      };
      for (let index = 1; index < line.values.length; index += 1) {
        if (line.values[index - 1] === null || line.values[index] === null) { flush(); continue; }
        const kind = segmentKind(kindOf, index);
        if (run && run.kind !== kind) flush();
        if (!run) run = { kind, points: [at(index - 1)] };
        run.points.push(at(index));
      }
      flush();
      line.values.forEach((value, index) => {
        if (value === null || kindOf[index] !== "scan") return;
        const dot = svg("circle", { class: `series-${n}`, cx: x(index), cy: y(value), r: 3 });
        dot.append(svg("title", {}, `${line.label} on ${labels[index]}: ${value}`));
        root.append(dot);
      });
    });
    const legend = document.createElement("ul");
    legend.className = "legend";
    const key = (swatchClass, text) => {
      const item = document.createElement("li");
      const swatch = document.createElement("i");
      swatch.className = swatchClass;
      item.append(swatch, document.createTextNode(text));
      legend.append(item);
    };
    series.forEach((line, n) => key(`series-${n}`, line.label));
    const shown = new Set(kindOf);
    if (shown.has("reconstructed")) key("key-reconstructed", "reconstructed from GitHub's lists (dashed)");
    if (shown.has("estimated")) key("key-estimated", "estimated (shaded): past what GitHub lists");
    container.replaceChildren(root, legend);
  }

  return { bars, lines, ticks };
})();
