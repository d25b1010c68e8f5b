// The dashboard page served at / by every node: plain HTML and JavaScript,
// no build step, no external assets. It polls /api/nodes, /api/jobs and
// /api/events once a second and draws the federation as a map from the
// members' Vivaldi coordinates (first two dimensions), nodes coloured by
// region and sized by GPUs, links shaded by their bandwidth estimate.
#include "node/http_server.h"

namespace polder::node {

const std::string& dashboard_html() {
  static const std::string page = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Polder federation</title>
<style>
body{font:14px system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2430}
header{padding:10px 16px;background:#1d3557;color:#fff;display:flex;gap:24px;align-items:baseline}
header h1{font-size:18px;margin:0}
main{display:grid;grid-template-columns:minmax(420px,1fr) minmax(420px,1fr);gap:12px;padding:12px}
section{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:8px 12px;overflow:auto}
h2{font-size:15px;margin:4px 0 8px}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:2px 6px;border-bottom:1px solid #eef0f3;white-space:nowrap}
.alive{color:#2a9d8f}.suspect{color:#e9c46a}.dead{color:#e63946}.left{color:#888}
.running{color:#1d3557;font-weight:600}.finished{color:#2a9d8f}.failed,.cancelled{color:#e63946}
svg{width:100%;height:360px;background:#fbfcfd}
#events{font-family:ui-monospace,monospace;font-size:12px;max-height:220px}
</style></head><body>
<header><h1>Polder</h1><span id="self">connecting…</span><span id="summary"></span></header>
<main>
<section><h2>Federation map (Vivaldi coordinates)</h2><svg id="map" viewBox="0 0 600 360"></svg></section>
<section><h2>Nodes</h2><table id="nodes"><thead><tr><th>node</th><th>state</th><th>region</th><th>operator</th>
<th>GPUs free/total</th><th>queue</th><th>RTT</th></tr></thead><tbody></tbody></table></section>
<section><h2>Jobs</h2><table id="jobs"><thead><tr><th>job</th><th>name</th><th>state</th><th>try</th><th>node</th>
<th>GPUs</th><th>last</th></tr></thead><tbody></tbody></table></section>
<section><h2>Recent events</h2><div id="events"></div></section>
</main>
<script>
const palette=["#1d3557","#e76f51","#2a9d8f","#8338ec","#f4a261","#457b9d","#ff006e","#6a994e"];
const regionColour={};
function colour(r){if(!(r in regionColour))regionColour[r]=palette[Object.keys(regionColour).length%palette.length];return regionColour[r];}
function esc(s){return String(s??"").replace(/[&<>"]/g,c=>({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c]));}
function gpus(m){return (m.gpus||[]).map(g=>g.type+" "+g.free+"/"+g.total).join(", ")||"-";}
function gpuTotal(m){return (m.gpus||[]).reduce((a,g)=>a+g.total,0);}
function drawMap(members){
  const svg=document.getElementById("map");
  const pts=members.filter(m=>m.coordinate).map(m=>({m,x:m.coordinate[0],y:m.coordinate[1]}));
  if(!pts.length){svg.innerHTML="";return;}
  let minx=Math.min(...pts.map(p=>p.x)),maxx=Math.max(...pts.map(p=>p.x));
  let miny=Math.min(...pts.map(p=>p.y)),maxy=Math.max(...pts.map(p=>p.y));
  const sx=(maxx-minx)||1,sy=(maxy-miny)||1;
  pts.forEach((p,i)=>{p.px=pts.length==1?300:40+520*(p.x-minx)/sx;p.py=pts.length==1?180:30+300*(p.y-miny)/sy;
    if(sx<1e-3&&sy<1e-3){p.px=300+140*Math.cos(2*Math.PI*i/pts.length);p.py=180+140*Math.sin(2*Math.PI*i/pts.length);}});
  let s="";
  for(let i=0;i<pts.length;i++)for(let j=i+1;j<pts.length;j++){
    const a=pts[i],b=pts[j];if(a.m.state!="alive"||b.m.state!="alive")continue;
    const bw=Math.min(1,(a.m.bandwidth_bps||1e9)/1e10);
    s+=`<line x1="${a.px}" y1="${a.py}" x2="${b.px}" y2="${b.py}" stroke="#457b9d" stroke-opacity="${0.15+0.5*bw}"/>`;}
  for(const p of pts){const r=8+3*Math.sqrt(gpuTotal(p.m));
    s+=`<g class="node" data-name="${esc(p.m.name)}"><circle cx="${p.px}" cy="${p.py}" r="${r}" fill="${colour(p.m.region)}"
      fill-opacity="${p.m.state=="alive"?0.9:0.25}" stroke="${p.m.self?"#000":"#fff"}" stroke-width="2"/>
      <text x="${p.px}" y="${p.py-r-4}" text-anchor="middle" font-size="12">${esc(p.m.name)} (${p.m.queue_length??0})</text></g>`;}
  svg.innerHTML=s;
}
async function refresh(){
  try{
    const [n,j,e]=await Promise.all(["/api/nodes","/api/jobs","/api/events"].map(u=>fetch(u).then(r=>r.json())));
    document.getElementById("self").textContent="node "+n.self.name+" ("+n.self.region+")";
    const counts={};for(const x of j.jobs)counts[x.state]=(counts[x.state]||0)+1;
    document.getElementById("summary").textContent=n.members.filter(m=>m.state=="alive").length+" alive nodes · "+
      Object.entries(counts).map(([k,v])=>v+" "+k).join(" · ");
    document.querySelector("#nodes tbody").innerHTML=n.members.map(m=>`<tr data-node="${esc(m.name)}"><td>${esc(m.name)}${m.self?" *":""}</td>
      <td class="${m.state}">${m.state}</td><td><span style="color:${colour(m.region)}">■</span> ${esc(m.region)}</td><td>${esc(m.operator)}</td>
      <td>${esc(gpus(m))}</td><td>${m.queue_length??"-"}</td><td>${m.rtt_ms==null?"-":m.rtt_ms.toFixed(1)+" ms"}</td></tr>`).join("");
    document.querySelector("#jobs tbody").innerHTML=j.jobs.slice(-50).reverse().map(x=>`<tr><td>${x.job_id.slice(0,12)}</td>
      <td>${esc(x.name)}</td><td class="${x.state}">${x.state}</td><td>${x.attempt}</td><td>${esc(x.executor_name||"-")}</td>
      <td>${esc(x.gpu_slots||"-")}</td><td>${esc(x.message)}</td></tr>`).join("");
    document.getElementById("events").innerHTML=e.events.slice(-40).reverse().map(x=>`<div>${esc(x)}</div>`).join("");
    drawMap(n.members);
  }catch(err){document.getElementById("self").textContent="node unreachable: "+err;}
}
refresh();setInterval(refresh,1000);
</script></body></html>
)HTML";
  return page;
}

}  // namespace polder::node
