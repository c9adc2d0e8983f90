// kubelet flags as they appear in its flags files (kubeadm-flags.env, /etc/default/kubelet,
// systemd units and drop-ins) and on its command line. Only the value of one flag is ever
// rewritten; the rest of the file is left as it is.

export interface FlagSite {
  start: number; // offset of the value in the text
  end: number;
  value: string;
}

function commentLine(text: string, pos: number): boolean {
  const ls = text.lastIndexOf('\n', pos - 1) + 1;
  return /^[ \t]*[#;]/.test(text.slice(ls, pos));
}

/** Every `--name=value` / `--name value` outside comment lines. */
export function findFlag(text: string, name: string): FlagSite[] {
  const re = new RegExp(`(?:^|[\\s"'=])--${name.replace(/-/g, '\\-')}(?:=|[ \\t]+)([^\\s"'\\\\]*)`, 'g');
  const sites: FlagSite[] = [];
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const start = m.index + m[0].length - m[1].length;
    if (commentLine(text, start) || m[1].startsWith('-')) continue;
    sites.push({ start, end: start + m[1].length, value: m[1] });
  }
  return sites;
}

/** The text with every --name value replaced by `value`. */
export function replaceFlag(text: string, name: string, value: string): string {
  let out = text;
  for (const s of findFlag(text, name).reverse()) out = out.slice(0, s.start) + value + out.slice(s.end);
  return out;
}

/** `--name=value` or `--name value` from an argv; the last one wins, as in kubelet. */
export function argValue(args: string[], name: string): string | undefined {
  let found: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === `--${name}` && i + 1 < args.length) found = args[++i];
    else if (a.startsWith(`--${name}=`)) found = a.slice(name.length + 3);
  }
  return found;
}

export function splitServers(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}
