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

  // labels: the x values (dates); series: [{label, values}] drawn as series-0, -1, -2.
  function lines(container, labels, series, label) {
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
    series.forEach((line, n) => {
      const points = line.values
        .map((value, index) => (value === null ? null : `${x(index).toFixed(1)},${y(value).toFixed(1)}`))
        .filter(Boolean);
      if (points.length > 1) root.append(svg("polyline", { class: `line series-${n}`, points: points.join(" ") }));
      line.values.forEach((value, index) => {
        if (value === null) return;
        const dot = svg("circle", { class: `series-${n}`, cx: x(index), cy: y(value), r: 3 });
        dot.append(svg("title", {}, `${line.label} on ${labels[index]}: ${value}`));
        root.append(dot);
      });
    });
    const legend = document.createElement("ul");
    legend.className = "legend";
    series.forEach((line, n) => {
      const item = document.createElement("li");
      const swatch = document.createElement("i");
      swatch.className = `series-${n}`;
      item.append(swatch, document.createTextNode(line.label));
      legend.append(item);
    });
    container.replaceChildren(root, legend);
  }

  return { bars, lines, ticks };
})();
