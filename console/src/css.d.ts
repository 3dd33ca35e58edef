// Stylesheets imported by the modules they style; Vite bundles them.
declare module '*.css' {}
