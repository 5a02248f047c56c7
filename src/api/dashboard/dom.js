/** el('a', { href, onclick }, child…): a DOM element; `on…` attributes become listeners, false/null ones are left out. */
export const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value === true ? '' : String(value));
  }
  node.append(...children.flat().map((child) => (child instanceof Node ? child : document.createTextNode(child ?? ''))));
  return node;
};

const SVG_NS = 'http://www.w3.org/2000/svg';
/** svg('line', { x1, … }, child…): an SVG element; attributes set as given, null and undefined ones left out. */
export const svg = (tag, attrs = {}, ...children) => {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) if (value !== undefined && value !== null) node.setAttribute(key, String(value));
  node.append(...children.flat().map((child) => (child instanceof Node ? child : document.createTextNode(child ?? ''))));
  return node;
};
