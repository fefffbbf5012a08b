// Progressive enhancement: every journey but the WebAuthn ceremonies works without it.
// "Copy" buttons copy the text of the element named by data-copy.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (!source || !navigator.clipboard) return;
  const text = button.dataset.keepLines ? source.textContent.trim() : source.textContent.replace(/\s+/g, "");
  navigator.clipboard.writeText(text).then(() => {
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = "Copy"; }, 2000);
  });
});
