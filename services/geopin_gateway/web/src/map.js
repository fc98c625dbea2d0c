// The estimate and its matches on a Leaflet map. Without tiles (the default, for privacy)
// the points sit on a plain background with a scale, which is enough to read distances.
import L from "leaflet";

export function createMap(element, tileUrl, attribution) {
  const map = L.map(element, {
    zoomSnap: 0.25,
    minZoom: 2,
    maxZoom: 19,
    attributionControl: Boolean(tileUrl),
  });
  map.attributionControl?.setPrefix(false);
  map.setView([0, 0], 2); // a view before any layer: circles need one to measure themselves
  if (tileUrl) L.tileLayer(tileUrl, { attribution, maxZoom: 19 }).addTo(map);
  L.control.scale({ metric: true, imperial: false }).addTo(map);
  const layer = L.featureGroup().addTo(map);
  // Keep the result in view when the page is resized or a phone is turned.
  map.on("resize", () => layer.getLayers().length && fit(map, layer));
  return { map, layer };
}

export function drawResult({ map, layer }, location, matches) {
  layer.clearLayers();
  matches.forEach((match, i) => {
    L.marker([match.lat, match.lon], {
      icon: L.divIcon({ className: "match-pin", html: String(i + 1), iconSize: [24, 24] }),
      title: `Match ${i + 1}: ${match.id}`,
      alt: `Match ${i + 1}: ${match.id}`,
      keyboard: true,
    }).addTo(layer);
  });
  if (location) {
    L.circle([location.lat, location.lon], {
      radius: location.radius_m,
      className: "estimate-area",
      interactive: false,
    }).addTo(layer);
    L.circleMarker([location.lat, location.lon], {
      radius: 7,
      className: "estimate-point",
      interactive: false,
    }).addTo(layer);
  }
  map.invalidateSize();
  fit(map, layer);
}

function fit(map, layer) {
  map.fitBounds(layer.getBounds().pad(0.15), { maxZoom: 18, animate: false });
}
