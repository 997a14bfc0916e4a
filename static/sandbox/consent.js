// The consent page lists only the chosen workspace's (or org's) people: swap them when the target changes.
document.addEventListener("DOMContentLoaded", () => {
  const target = document.getElementById("id_target");
  const user = document.getElementById("id_user");
  const data = document.getElementById("people-by-target");
  if (!target || !user || !data) return;
  const people = JSON.parse(data.textContent);
  target.addEventListener("change", () => {
    user.replaceChildren(...(people[target.value] || []).map(([value, label]) => new Option(label, value)));
  });
});
