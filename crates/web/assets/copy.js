// Copy buttons: `<button data-copy="ID" data-copied="WORDS" hidden>` copies the text of
// the element #ID. The buttons are hidden until this runs (without JavaScript the text
// is still there to select); the button says WORDS for a moment after copying, and a
// screen reader hears it (the button's own live region).
for (const button of document.querySelectorAll('button[data-copy]')) {
  const label = button.firstChild?.textContent ?? '';
  button.hidden = false;
  button.setAttribute('aria-live', 'polite');
  button.addEventListener('click', async () => {
    const source = document.getElementById(button.dataset.copy);
    if (!source) return;
    try {
      await navigator.clipboard.writeText(source.textContent.trim());
      button.firstChild.textContent = button.dataset.copied ?? label;
      setTimeout(() => {
        button.firstChild.textContent = label;
      }, 2000);
    } catch {
      // No clipboard (an old browser, no permission): the text can still be selected.
      window.getSelection()?.selectAllChildren(source);
    }
  });
}
