/**
 * A QR code as SVG, drawn with DOM nodes: no innerHTML and no data: URL, so the app's
 * `'self'`-only CSP holds. The encoding is qrcode-generator's (bundled into the app only,
 * never into the Worker).
 */
import qrcode from 'qrcode-generator';

const SVG = 'http://www.w3.org/2000/svg';
/** The quiet zone the QR specification asks for around the code, in modules. */
const MARGIN = 4;

/** The SVG path of the dark modules (one unit square each) and the side of the whole code. */
export function qrModules(text: string): { d: string; size: number } {
  const qr = qrcode(0, 'M');
  qr.addData(text);
  qr.make();
  const parts: string[] = [];
  const count = qr.getModuleCount();
  for (let row = 0; row < count; row++) {
    for (let col = 0; col < count; col++) {
      if (qr.isDark(row, col)) parts.push(`M${col + MARGIN} ${row + MARGIN}h1v1h-1z`);
    }
  }
  return { d: parts.join(''), size: count + 2 * MARGIN };
}

export function qrCode(text: string, label: string): SVGSVGElement {
  const { d, size } = qrModules(text);
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${size} ${size}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  svg.setAttribute('class', 'qr');
  svg.setAttribute('shape-rendering', 'crispEdges');
  const background = document.createElementNS(SVG, 'rect');
  background.setAttribute('width', String(size));
  background.setAttribute('height', String(size));
  background.setAttribute('fill', '#fff');
  const modules = document.createElementNS(SVG, 'path');
  modules.setAttribute('d', d);
  modules.setAttribute('fill', '#000');
  svg.append(background, modules);
  return svg;
}
