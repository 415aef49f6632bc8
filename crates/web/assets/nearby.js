// "Use my location" on /nearby: asks the browser for the position (only on a click)
// and loads the page around it. Without JavaScript, or when the position is not
// available, the area picker does the same.

const box = document.getElementById('locate');
const button = document.getElementById('locate-button');
const status = document.getElementById('locate-status');

if (box && button && status && 'geolocation' in navigator) {
  box.hidden = false;
  button.addEventListener('click', () => {
    status.textContent = box.dataset.locating;
    navigator.geolocation.getCurrentPosition(
      (p) => {
        const lat = p.coords.latitude.toFixed(5);
        const lon = p.coords.longitude.toFixed(5);
        window.location.assign(`/nearby?lat=${lat}&lon=${lon}`);
      },
      () => {
        status.textContent = box.dataset.failed;
        document.getElementById('area')?.focus();
      },
      { enableHighAccuracy: false, timeout: 10000, maximumAge: 60000 },
    );
  });
}
