/*
 * html.c - the standalone flame graph page (see html.h).
 *
 * The page carries its data as one JSON document: names, a flat node
 * array [depth, x, total, self, name, ...] in the server's layout (x is a
 * node's left edge; children lie inside their parent), and the top
 * functions.  The script draws on a canvas and fills the table with
 * textContent, never innerHTML, so names are never parsed as markup.
 *
 * Threads: single-threaded.
 *
 * Invariants: see html.h; the page makes no network request.
 */
#include "html.h"

#include <stdlib.h>
#include <string.h>

#define TOP_FUNCTIONS 100

char *pyr_cli_json_for_script(const json_t *v) {
  char *raw = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
  size_t extra = 0;
  if (raw == NULL)
    return NULL;
  for (const char *p = raw; *p; p++)
    extra += (*p == '<' || *p == '>' || *p == '&') ? 5 : 0;
  char *out = malloc(strlen(raw) + extra + 1), *o = out;
  if (out == NULL)
    goto out;
  /* Outside strings compact JSON has no <, > or &, so escaping every
   * occurrence only ever touches string contents and stays valid JSON. */
  for (const char *p = raw; *p; p++) {
    if (*p == '<' || *p == '>' || *p == '&') {
      static const char hex[] = "0123456789abcdef";
      unsigned char c = (unsigned char)*p; /* all three are < 0x80 */
      *o++ = '\\';
      *o++ = 'u';
      *o++ = '0';
      *o++ = '0';
      *o++ = hex[c >> 4];
      *o++ = hex[c & 15];
    } else {
      *o++ = *p;
    }
  }
  *o = '\0';
out:
  free(raw);
  return out;
}

void pyr_cli_html_escape(FILE *out, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '&': fputs("&amp;", out); break;
    case '<': fputs("&lt;", out); break;
    case '>': fputs("&gt;", out); break;
    case '"': fputs("&quot;", out); break;
    case '\'': fputs("&#39;", out); break;
    default: fputc(*s, out);
    }
  }
}

static json_t *node_array(const pyr_cli_flame *f) {
  json_t *a = json_array();
  if (a == NULL)
    return NULL;
  for (size_t i = 0; i < f->nnodes; i++) {
    const pyr_cli_fnode *n = &f->nodes[i];
    const json_int_t v[5] = {n->depth, (json_int_t)n->x, (json_int_t)n->total,
                             (json_int_t)n->self, n->name};
    for (int k = 0; k < 5; k++)
      if (json_array_append_new(a, json_integer(v[k])) != 0)
        goto fail;
  }
  return a;
fail:
  json_decref(a);
  return NULL;
}

static json_t *top_array(const pyr_cli_flame *f) {
  pyr_cli_func *funcs = NULL;
  size_t n = 0;
  json_t *a = json_array();
  if (a == NULL || pyr_cli_flame_functions(f, PYR_CLI_BY_SELF, &funcs, &n) != 0)
    goto fail;
  for (size_t i = 0; i < n && i < TOP_FUNCTIONS; i++)
    if (json_array_append_new(a, json_pack("[sII]", funcs[i].name,
                                           (json_int_t)funcs[i].self,
                                           (json_int_t)funcs[i].total)) != 0)
      goto fail;
  free(funcs);
  return a;
fail:
  free(funcs);
  json_decref(a);
  return NULL;
}

static json_t *page_data(const pyr_cli_flame *f, const char *title,
                         pyr_cli_unit unit) {
  json_t *names = json_array(), *d = NULL;
  if (names == NULL)
    return NULL;
  for (size_t i = 0; i < f->nnames; i++)
    if (json_array_append_new(names, json_string(f->names[i])) != 0) {
      json_decref(names);
      return NULL;
    }
  d = json_pack("{s:s, s:s, s:I, s:o, s:o*, s:o*}", "title", title, "unit",
                pyr_cli_unit_name(unit), "total", (json_int_t)f->total, "names",
                names, "nodes", node_array(f), "top", top_array(f));
  /* json_pack's "o*" tolerates a NULL (OOM) value; treat it as failure. */
  if (d != NULL && (json_object_get(d, "nodes") == NULL ||
                    json_object_get(d, "top") == NULL)) {
    json_decref(d);
    d = NULL;
  }
  return d;
}

static const char page_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>";

static const char page_style[] =
    "</title>\n<style>\n"
    "body{font:13px/1.4 system-ui,sans-serif;margin:16px;color:#222;background:#fff}\n"
    "h1{font-size:17px;margin:0 0 2px}\n"
    ".sub{color:#666;margin-bottom:10px}\n"
    ".bar{display:flex;gap:8px;align-items:center;margin-bottom:8px}\n"
    ".bar input{flex:0 0 260px;padding:3px 6px}\n"
    "#status{color:#444}\n"
    "#fg{width:100%;display:block;cursor:pointer}\n"
    "#tip{position:fixed;pointer-events:none;background:#fffbe6;border:1px solid #bba;"
    "padding:4px 6px;display:none;max-width:600px;word-break:break-all;font-size:12px}\n"
    "table{border-collapse:collapse;margin-top:16px;font-size:12px}\n"
    "td,th{padding:2px 10px;text-align:right;border-bottom:1px solid #eee}\n"
    "td:last-child,th:last-child{text-align:left;font-family:monospace}\n"
    "</style>\n</head>\n<body>\n<h1>";

static const char page_body[] =
    "</div>\n<div class=\"bar\"><input id=\"q\" placeholder=\"Search (substring)\">"
    "<button id=\"reset\">Reset zoom</button><span id=\"status\"></span></div>\n"
    "<canvas id=\"fg\"></canvas>\n<div id=\"tip\"></div>\n"
    "<table><thead><tr><th>Self</th><th>Self %</th><th>Total</th><th>Total %</th>"
    "<th>Function</th></tr></thead><tbody id=\"top\"></tbody></table>\n"
    "<script type=\"application/json\" id=\"pyrite-data\">";

/* The viewer.  Plain ES5, no libraries; strings reach the DOM only via
 * textContent and canvas fillText. */
static const char page_script[] =
    "</script>\n<script>\n"
    "(function(){'use strict';\n"
    "var D=JSON.parse(document.getElementById('pyrite-data').textContent);\n"
    "var names=D.names,N=D.nodes,total=D.total,unit=D.unit,ROW=18;\n"
    "var cv=document.getElementById('fg'),ctx=cv.getContext('2d');\n"
    "var tip=document.getElementById('tip'),st=document.getElementById('status');\n"
    "var rows=[],i,maxDepth=0;\n"
    "for(i=0;i<N.length;i+=5){var d=N[i];if(d>maxDepth)maxDepth=d;"
    "(rows[d]=rows[d]||[]).push(i);}\n"
    "var zoom={x:0,w:total||1,depth:0},query='';\n"
    "function fmt(v){var s=[[1,'']],k,a=Math.abs(v);\n"
    " if(unit==='nanoseconds')s=[[1,' ns'],[1e3,' us'],[1e6,' ms'],[1e9,' s'],[6e10,' min'],[3.6e12,' h']];\n"
    " else if(unit==='bytes')s=[[1,' B'],[1024,' KB'],[1048576,' MB'],[1073741824,' GB'],[1099511627776,' TB']];\n"
    " else s=[[1,''],[1e3,' k'],[1e6,' M'],[1e9,' G']];\n"
    " for(k=0;k+1<s.length&&a>=s[k+1][0];k++);\n"
    " var x=v/s[k][0];return (x>=100||k===0?x.toFixed(0):x>=10?x.toFixed(1):x.toFixed(2))+s[k][1];}\n"
    "function pct(v){return total?(100*v/total).toFixed(2)+'%':'0%';}\n"
    "function color(name,hit){if(hit)return '#c07cff';var h=0,j;"
    "for(j=0;j<name.length;j++)h=(h*31+name.charCodeAt(j))|0;"
    " h=Math.abs(h);var java=name.indexOf('/')>=0||name.indexOf('.')>=0;"
    " return 'hsl('+(java?(h%40+10):(h%30+190))+','+(60+h%25)+'%,'+(55+(h>>5)%15)+'%)';}\n"
    "function visible(i){var x=N[i+1],w=N[i+2];"
    " if(N[i]<zoom.depth)return x<=zoom.x&&x+w>=zoom.x+zoom.w;"
    " return x+w>zoom.x&&x<zoom.x+zoom.w;}\n"
    "function geom(i,W){var x=N[i+1],w=N[i+2];if(N[i]<zoom.depth)return [0,W];"
    " var l=(x-zoom.x)/zoom.w*W,r=(x+w-zoom.x)/zoom.w*W;"
    " if(l<0)l=0;if(r>W)r=W;return [l,r-l];}\n"
    "function draw(){var W=cv.clientWidth||800,dpr=window.devicePixelRatio||1,H=(maxDepth+1)*ROW;\n"
    " cv.width=W*dpr;cv.height=H*dpr;cv.style.height=H+'px';ctx.setTransform(dpr,0,0,dpr,0,0);\n"
    " ctx.clearRect(0,0,W,H);ctx.font='12px monospace';ctx.textBaseline='middle';\n"
    " var q=query,matched=0;\n"
    " for(var d=0;d<rows.length;d++){var r=rows[d]||[];for(var k=0;k<r.length;k++){var i=r[k];\n"
    "  if(!visible(i))continue;var g=geom(i,W);if(g[1]<0.5)continue;\n"
    "  var nm=names[N[i+4]],hit=q&&nm.indexOf(q)>=0;if(hit)matched++;\n"
    "  ctx.fillStyle=d===0&&!hit?'#c8c8c8':color(nm,hit);ctx.fillRect(g[0],d*ROW,Math.max(g[1]-0.5,0.5),ROW-1);\n"
    "  if(g[1]>24){ctx.save();ctx.beginPath();ctx.rect(g[0],d*ROW,g[1]-3,ROW);ctx.clip();\n"
    "   ctx.fillStyle='#000';ctx.fillText(nm,g[0]+3,d*ROW+ROW/2);ctx.restore();}}}\n"
    " st.textContent='Total '+fmt(total)+(q?' | '+matched+' visible frames match':'');}\n"
    "function at(ev){var rc=cv.getBoundingClientRect(),W=cv.clientWidth,"
    " d=Math.floor((ev.clientY-rc.top)/ROW),px=ev.clientX-rc.left,r=rows[d]||[];\n"
    " for(var k=0;k<r.length;k++){var i=r[k];if(!visible(i))continue;var g=geom(i,W);"
    " if(px>=g[0]&&px<g[0]+g[1])return i;}return -1;}\n"
    "cv.addEventListener('mousemove',function(ev){var i=at(ev);if(i<0){tip.style.display='none';return;}\n"
    " tip.textContent=names[N[i+4]]+'\\ntotal '+fmt(N[i+2])+' ('+pct(N[i+2])+'), self '+fmt(N[i+3])+' ('+pct(N[i+3])+')';\n"
    " tip.style.whiteSpace='pre-wrap';tip.style.display='block';\n"
    " tip.style.left=Math.min(ev.clientX+12,window.innerWidth-320)+'px';tip.style.top=(ev.clientY+14)+'px';});\n"
    "cv.addEventListener('mouseleave',function(){tip.style.display='none';});\n"
    "cv.addEventListener('click',function(ev){var i=at(ev);if(i<0)return;"
    " zoom={x:N[i+1],w:N[i+2]||1,depth:N[i]};draw();});\n"
    "document.getElementById('reset').addEventListener('click',function(){zoom={x:0,w:total||1,depth:0};draw();});\n"
    "document.getElementById('q').addEventListener('input',function(ev){query=ev.target.value;draw();});\n"
    "window.addEventListener('resize',draw);\n"
    "var tb=document.getElementById('top');\n"
    "D.top.forEach(function(t){var tr=document.createElement('tr');"
    "[fmt(t[1]),pct(t[1]),fmt(t[2]),pct(t[2]),t[0]].forEach(function(c){"
    "var td=document.createElement('td');td.textContent=c;tr.appendChild(td);});tb.appendChild(tr);});\n"
    "draw();})();\n"
    "</script>\n</body>\n</html>\n";

int pyr_cli_html_write(FILE *out, const pyr_cli_flame *f, const char *title,
                       const char *subtitle, pyr_cli_unit unit) {
  json_t *data = page_data(f, title, unit);
  char *json = data ? pyr_cli_json_for_script(data) : NULL;
  int rc = -1;
  if (json == NULL)
    goto out;
  fputs(page_head, out);
  pyr_cli_html_escape(out, title);
  fputs(page_style, out);
  pyr_cli_html_escape(out, title);
  fputs("</h1>\n<div class=\"sub\">", out);
  pyr_cli_html_escape(out, subtitle);
  fputs(page_body, out);
  fputs(json, out);
  fputs(page_script, out);
  rc = ferror(out) ? -1 : 0;
out:
  free(json);
  json_decref(data);
  return rc;
}
