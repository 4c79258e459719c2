/* The admin's list of models (Django's navigation sidebar) starts folded on windows narrower than
   1600 px, so that lists and pages get the window's width; its « » button unfolds it, and Django
   remembers the choice. Loaded before Django's nav_sidebar.js (deferred), which reads it. */
"use strict";
if (localStorage.getItem("django.admin.navSidebarIsOpen") === null && window.innerWidth < 1600) {
  localStorage.setItem("django.admin.navSidebarIsOpen", "false");
}
