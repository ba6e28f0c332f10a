/**
 * What every console page shares: the response headers (a per-response CSP nonce, nothing else may run), the
 * header's links, and the browser code for credentials and the live stream.
 *
 * Credentials: when a write (or, with CULM_API_READ_AUTH, a read) gets a 401, the page asks for what the
 * challenge offers (the API token, or a user and password) in a dialog of its own and keeps the answer as an
 * Authorization value in sessionStorage: this tab only, never a cookie, so there is no CSRF surface. Every
 * fetch is `credentials: 'omit'`: the browser neither sends a cached basic login nor opens its own prompt
 * (which would come before the page's, and remember the password beyond the tab).
 * The live stream is read with fetch, not EventSource, so that it can carry the same Authorization; so are the
 * links to what culm serves as text (`data-auth-link`: the applied config, its download): a plain link would be
 * followed without it (401 with reads closed), so a click fetches the text with the header and opens it (a new
 * tab) or saves it (a link with `download`) through a Blob URL: no frame, no inline code, the same CSP.
 */
import type { Headers } from './io.js';

export function pageHeaders(nonce: string): Headers {
  return {
    'Content-Security-Policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'`,
    'Cache-Control': 'no-store',
    'Referrer-Policy': 'no-referrer',
  };
}

/** The console's pages, and the applied config (text, fetched with the page's credentials: `data-auth-link`). */
const PAGES: Array<[string, string, boolean?]> = [['/', 'apps'], ['/ui/history', 'history'], ['/ui/cluster', 'cluster & status'], ['/api/config', 'applied config', true]];

/** The header's links (constant text, nothing to escape); the current page's is marked for assistive technology. */
export function navLinks(current: string): string {
  return `<nav aria-label="console">${PAGES.map(([href, label, text]) => `<a href="${href}"${text ? ' data-auth-link' : ''}${href === current ? ' aria-current="page"' : ''}>${label}</a>`).join('')}</nav>`;
}

export const CLIENT_STYLE = `header nav{margin-left:auto;display:flex;gap:1em;flex-wrap:wrap}header nav a{color:#fff}header nav a[aria-current]{font-weight:bold;text-decoration:none}
dialog.login form{display:grid;gap:.5em;max-width:24em}dialog.login label{display:grid}dialog.login .err,.link-error{color:#b00}`;

// Plain browser JS, text set with textContent only. `authHeaders()` is sent on every call; `askCredentials(res)`
// resolves true once new credentials are kept; `authRead(url)` is a GET that asks once on a 401 and tries again;
// a click on an `a[data-auth-link]` goes through it (see above); `follow(stateEl, onChange)` reads /api/events and calls
// onChange on each event (and once connected), saying its state in stateEl; refused (reads closed), it asks for
// credentials once per page, not at every retry.
export const CLIENT_SCRIPT = `function authHeaders(){const h={};const a=sessionStorage.getItem('culm-auth');if(a)h.Authorization=a;return h;}
function authFetch(url,init){init=init||{};return fetch(url,Object.assign({},init,{credentials:'omit',headers:Object.assign(authHeaders(),init.headers||{})}));}
function askCredentials(res,why){const offered=res.headers.get('WWW-Authenticate')||'',basic=/basic/i.test(offered),bearer=/bearer/i.test(offered);
 if(!basic&&!bearer)return Promise.resolve(false);
 return new Promise((done)=>{const d=document.createElement('dialog'),f=document.createElement('form');d.className='login';d.setAttribute('aria-label','Sign in');
  const text=(tag,t,cls)=>{const e=document.createElement(tag);e.textContent=t;if(cls)e.className=cls;f.append(e);return e;};
  text('p',(bearer&&basic?'The API token, or a user and password,':bearer?'The API token (CULM_API_TOKEN)':'A user and password (CULM_API_USERS_FILE)')+' are needed. They are kept in this tab only.');
  if(why)text('p',why,'err');
  const field=(name,label,type)=>{const l=document.createElement('label');l.textContent=label;const i=document.createElement('input');i.name=name;i.type=type;i.autocomplete='off';l.append(i);f.append(l);return i;};
  const token=bearer?field('token','API token','password'):null,user=basic?field('user','User','text'):null,pass=basic?field('password','Password','password'):null;
  const ok=document.createElement('button');ok.textContent='Sign in';const no=document.createElement('button');no.type='button';no.textContent='Cancel';f.append(ok,no);
  d.append(f);document.body.append(d);
  const end=(saved)=>{d.close();d.remove();done(saved);};
  f.addEventListener('submit',(ev)=>{ev.preventDefault();ev.stopPropagation();
   if(token&&token.value.trim()){sessionStorage.setItem('culm-auth','Bearer '+token.value.trim());return end(true);}
   if(user&&user.value){const bytes=new TextEncoder().encode(user.value+':'+pass.value);let s='';for(const b of bytes)s+=String.fromCharCode(b);
    sessionStorage.setItem('culm-auth','Basic '+btoa(s));return end(true);}
   end(false);});
  no.addEventListener('click',()=>end(false));d.addEventListener('cancel',(ev)=>{ev.preventDefault();end(false);});
  d.showModal();(token||user).focus();});}
async function authRead(url){let res=await authFetch(url);if(res.status===401&&await askCredentials(res,''))res=await authFetch(url);return res;}
document.addEventListener('click',(ev)=>{const a=ev.target instanceof Element?ev.target.closest('a[data-auth-link]'):null;
 if(!a||ev.button!==0||ev.metaKey||ev.ctrlKey||ev.shiftKey||ev.altKey)return;ev.preventDefault();
 const said=(t)=>{let s=a.nextElementSibling;const has=!!s&&s.classList.contains('link-error');if(!t){if(has)s.remove();return;}
  if(!has){s=document.createElement('span');s.className='link-error';s.setAttribute('role','status');a.after(s);}s.textContent=t;};
 authRead(a.getAttribute('href')).then(async(res)=>{if(!res.ok)return said(' not available: '+res.status);said('');
  const url=URL.createObjectURL(await res.blob());setTimeout(()=>URL.revokeObjectURL(url),60000);
  if(a.hasAttribute('download')){const save=document.createElement('a');save.href=url;save.download=a.getAttribute('download')||'';document.body.append(save);save.click();save.remove();}
  else if(!window.open(url,'_blank'))location.assign(url);}).catch((err)=>said(' '+String(err)));});
function follow(live,onChange){const state=(s,t)=>{live.dataset.state=s;live.textContent=t;};let asked=false;
 const run=async()=>{state('connecting','connecting…');
  try{const res=await authFetch('/api/events');
   if(res.status===401&&!asked){asked=true;if(await askCredentials(res,''))return run();}
   if(!res.ok||!res.body)throw new Error(res.status===401?'credentials are needed':'HTTP '+res.status);
   state('live','live');onChange();const reader=res.body.getReader(),dec=new TextDecoder();let buf='';
   for(;;){const {value,done}=await reader.read();if(done)break;buf+=dec.decode(value,{stream:true});let i;
    while((i=buf.indexOf('\\n\\n'))>=0){const block=buf.slice(0,i);buf=buf.slice(i+2);if(/^event: /m.test(block))onChange();}}
   throw new Error('the stream ended');
  }catch(e){state('offline','offline ('+e.message+'), retrying');setTimeout(run,2000);}};
 run();}`;
