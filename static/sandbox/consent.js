// The consent page lists only the chosen workspace's (or org's) people: swap them when the target
// changes, and once when the page is ready (a choice made before this script ran is then honoured).
document.addEventListener("DOMContentLoaded", () => {
  const target = document.getElementById("id_target");
  const user = document.getElementById("id_user");
  const data = document.getElementById("people-by-target");
  if (!target || !user || !data) return;
  const people = JSON.parse(data.textContent);
  const show = () => {
    const chosen = user.value;
    user.replaceChildren(...(people[target.value] || []).map(([value, label]) => new Option(label, value, false, value === chosen)));
  };
  target.addEventListener("change", show);
  show();
});
